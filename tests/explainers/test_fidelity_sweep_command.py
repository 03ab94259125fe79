"""`manage.py fidelity_sweep`: the table and the plot."""

from explainers.models import FidelitySweep
from tests.command_output import command_json as _json


def test_fidelity_sweep_stores_the_table_and_the_plot(scenario, tmp_path):
    plot = tmp_path / "sweep.png"
    result = _json(
        "fidelity_sweep",
        "--scenario",
        str(scenario.pk),
        "--reducers",
        "nmf,pca",
        "--components",
        "5:10:5",
        "--classes",
        "class_00,class_01,class_02",
        "--out",
        str(plot),
        "--device",
        "cpu",
    )
    assert [(r["reducer"], r["n_components"]) for r in result["table"]] == [
        ("nmf", 5),
        ("nmf", 10),
        ("pca", 5),
        ("pca", 10),
    ]
    assert all(0.0 <= r["fid_c"] <= 1.0 for r in result["table"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert FidelitySweep.objects.get(pk=result["fidelity_sweep"]).figure
