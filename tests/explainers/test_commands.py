"""The management commands run the services in the foreground and speak JSON when asked."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from explainers.models import ExplainerRun, FidelitySweep, StimulusSet


def _json(*args) -> dict:
    out = io.StringIO()
    call_command(*args, "--json", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


def test_fit_explainers_fits_the_requested_classes(scenario):
    result = _json(
        "fit_explainers",
        "--scenario",
        str(scenario.pk),
        "--reducer",
        "pca",
        "--classes",
        "class_01,class_02",
        "--device",
        "cpu",
    )
    assert [r["class"] for r in result["runs"]["pca"]] == ["class_01", "class_02"]
    assert ExplainerRun.objects.filter(reducer="pca", status="succeeded").count() == 2


def test_build_stimulus_set_builds_and_freezes(scenario):
    result = _json(
        "build_stimulus_set",
        "--scenario",
        scenario.name,
        "--reducer",
        "nmf",
        "--n-classes",
        "3",
        "--n-training",
        "1",
        "--seed",
        "4",
        "--freeze",
        "--device",
        "cpu",
    )
    (entry,) = result["stimulus_sets"]
    assert entry["trials"] == 3 and entry["frozen"] and len(entry["classes"]) == 3
    assert StimulusSet.objects.get(pk=entry["id"]).is_frozen


def test_export_manifest_writes_the_chosen_set(scenario, tmp_path):
    built = _json(
        "build_stimulus_set",
        "--scenario",
        str(scenario.pk),
        "--reducer",
        "kmeans",
        "--n-classes",
        "3",
        "--n-training",
        "1",
        "--device",
        "cpu",
    )
    set_id = built["stimulus_sets"][0]["id"]
    out = tmp_path / "manifest.json"
    result = _json("export_manifest", "--out", str(out), "--stimulus-set", str(set_id))
    assert result == {"path": str(out), "stimulus_sets": 1}
    assert json.loads(out.read_text())["stimulus_sets"][0]["id"] == set_id


def test_export_manifest_names_a_missing_set(db, tmp_path):
    with pytest.raises(CommandError, match=r"no stimulus set with id \[99\]"):
        call_command("export_manifest", "--out", str(tmp_path / "m.json"), "--stimulus-set", "99")


def test_fidelity_sweep_stores_the_table_and_the_plot(scenario, tmp_path):
    plot = tmp_path / "sweep.png"
    result = _json(
        "fidelity_sweep",
        "--scenario",
        str(scenario.pk),
        "--reducers",
        "nmf,pca",
        "--n-components",
        "5,10",
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


def test_bad_input_becomes_a_command_error(scenario):
    with pytest.raises(CommandError, match="no scenario 'nope'"):
        call_command("fit_explainers", "--scenario", "nope")
    with pytest.raises(CommandError, match="unknown reducer"):
        call_command("fit_explainers", "--scenario", str(scenario.pk), "--reducer", "ica")
    with pytest.raises(CommandError, match="needs 21"):
        call_command(
            "build_stimulus_set",
            "--scenario",
            str(scenario.pk),
            "--reducer",
            "nmf",
            "--n-classes",
            "21",
            stderr=io.StringIO(),
        )
