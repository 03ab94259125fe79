"""The fidelity sweep service class by class: equal to the core sweep, resumable, and as a fanned-out job.

The reference is the core ``fidelity_sweep`` (one call, every class in memory) on the
same activations from the feature bank; the service's run folder, its resume and the
job's fan-out must give the same table. Only the timing columns may differ.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage

import explainers.ice.sweep_engine as engine
from explainers.models import FidelitySweep
from explainers.services.fidelity import (
    fidelity_sweep_finish,
    fidelity_sweep_plan,
    fidelity_sweep_run,
)
from tests.command_output import command_json

CLASSES = ["class_00", "class_01", "class_02", "class_03"]
REDUCERS = ("nmf", "pca", "kmeans")
N_COMPONENTS = (2, 4)
TIMINGS = {"fit_seconds", "eval_seconds"}


def core_table(scenario) -> list[dict]:
    """The core fidelity_sweep on the bank's activations of CLASSES, as stored rows."""
    from explainers.ice.features import float_tensor_view
    from explainers.ice.fidelity import fidelity_sweep
    from explainers.services.scenarios import (
        scenario_class_features,
        scenario_class_indices,
        scenario_feature_bank,
    )

    bank = scenario_feature_bank(scenario=scenario, device="cpu")
    indices = scenario_class_indices(scenario=scenario)

    def features(split: str, name: str):
        found = scenario_class_features(scenario=scenario, bank=bank, split=split, class_name=name)
        return float_tensor_view(found.features)

    sweep = fidelity_sweep(
        bank.extractor.head,
        {indices[name]: features("train", name) for name in CLASSES},
        {indices[name]: features("test", name) for name in CLASSES},
        reducers=REDUCERS,
        n_components=N_COMPONENTS,
        random_state=0,
        device="cpu",
    )
    return json.loads(sweep.table.to_json(orient="records"))


def assert_same_table(table: list[dict], reference: list[dict]) -> None:
    """Same rows in the same order; equal numbers (Fid_r to 1e-6), timings aside."""
    assert [(r["reducer"], r["n_components"]) for r in table] == [
        (r["reducer"], r["n_components"]) for r in reference
    ]
    for row, expected in zip(table, reference, strict=True):
        assert set(row) == set(expected)
        for column, value in expected.items():
            if column in TIMINGS:
                continue
            if column == "fid_r":
                assert row[column] == pytest.approx(value, rel=1e-6, abs=1e-9), row
            else:
                assert row[column] == value, (column, row, expected)


@pytest.fixture
def counted(monkeypatch) -> list[int]:
    """Classes fitted (sweep_class calls), in order."""
    calls: list[int] = []
    original = engine.sweep_class

    def sweep_class(head, test_set, class_index, *args, **kwargs):
        calls.append(int(class_index))
        return original(head, test_set, class_index, *args, **kwargs)

    monkeypatch.setattr(engine, "sweep_class", sweep_class)
    return calls


def _run(scenario, **options) -> FidelitySweep:
    return fidelity_sweep_run(
        scenario=scenario,
        reducers=REDUCERS,
        n_components=N_COMPONENTS,
        classes=CLASSES,
        seed=0,
        device="cpu",
        **options,
    )


def test_the_service_equals_the_core_sweep_and_keeps_only_results(scenario, counted):
    sweep = _run(scenario)
    assert counted == [0, 1, 2, 3]
    assert_same_table(sweep.table, core_table(scenario))
    del counted[:]  # the core sweep's fits

    plan = fidelity_sweep_plan(
        scenario=scenario,
        reducers=REDUCERS,
        n_components=N_COMPONENTS,
        classes=CLASSES,
        seed=0,
    )
    assert plan.folder == Path(settings.ICELAB_HOME) / "sweeps" / plan.key
    assert sweep.run_key.startswith(plan.key + "/")
    names = sorted(p.name for p in plan.folder.iterdir())
    assert names == [
        "class-00000.npz",
        "class-00001.npz",
        "class-00002.npz",
        "class-00003.npz",
        "run.json",
        "test-set.npz",  # its activations copy deleted once combined
    ]
    # The sidecar says what ran, where, with what.
    with default_storage.open(sweep.sidecar, "rb") as stream:
        sidecar = json.load(stream)
    meta = sidecar["settings"]["meta"]
    assert meta["device"] == "cpu" and meta["versions"]["torch"]
    assert set(meta["timings"]) >= {"test_set_seconds", "fit_seconds", "total_seconds"}
    assert sidecar["caption"].startswith("4 classes, 40 test images, c' = 2..4")
    assert default_storage.open(sweep.figure, "rb").read(8) == b"\x89PNG\r\n\x1a\n"

    # Run again once finished: the same row, nothing refitted.
    assert _run(scenario).pk == sweep.pk
    assert counted == []
    assert FidelitySweep.objects.count() == 1
    assert fidelity_sweep_finish(plan=plan).pk == sweep.pk

    # Its row deleted, the finished folder (activations copy gone) cannot resume: it starts over.
    sweep.delete()
    again = _run(scenario)
    assert counted == [0, 1, 2, 3]
    assert again.run_key != sweep.run_key
    assert_same_table(again.table, sweep.table)


def test_a_killed_command_resumes_without_refitting_done_classes(scenario, monkeypatch, counted):
    original = engine.sweep_class  # counts into ``counted``

    def dies_on_the_third(*args, **kwargs):
        if len(counted) == 2:
            raise KeyboardInterrupt  # as a kill would end the run, between two classes' writes
        return original(*args, **kwargs)

    monkeypatch.setattr(engine, "sweep_class", dies_on_the_third)
    arguments = [
        "fidelity_sweep",
        "--scenario",
        str(scenario.pk),
        "--reducers",
        ",".join(REDUCERS),
        "--components",
        "2,4",
        "--classes",
        ",".join(CLASSES),
        "--device",
        "cpu",
    ]
    with pytest.raises(KeyboardInterrupt):
        command_json(*arguments)
    assert FidelitySweep.objects.count() == 0
    (folder,) = (Path(settings.ICELAB_HOME) / "sweeps").iterdir()
    done = sorted(folder.glob("class-*.npz"))
    assert [p.name for p in done] == ["class-00000.npz", "class-00001.npz"]
    written = {p.name: p.stat().st_mtime_ns for p in done}

    monkeypatch.setattr(engine, "sweep_class", original)
    del counted[:]
    result = command_json(*arguments)
    assert counted == [2, 3]  # only the classes the killed run had not finished
    assert {p.name: p.stat().st_mtime_ns for p in done} == written
    assert_same_table(result["table"], core_table(scenario))
    del counted[:]  # the core sweep's fits
    assert result["caption"] and result["meta"]["device"] == "cpu"

    # --fresh starts over: every class fitted again, a new row of the same numbers.
    again = command_json(*arguments, "--fresh")
    assert counted == [0, 1, 2, 3]
    assert again["fidelity_sweep"] != result["fidelity_sweep"]
    assert_same_table(again["table"], result["table"])


@pytest.mark.django_db(transaction=True)
def test_the_job_fans_out_blocks_and_combines_the_same_table(scenario, settings, counted):
    from jobs.models import Job
    from jobs.services import job_submit
    from jobs.worker import local_worker

    settings.CELERY_BROKER_URL = ""
    params = {
        "scenario": scenario.pk,
        "reducers": list(REDUCERS),
        "n_components": list(N_COMPONENTS),
        "classes": CLASSES,
        "seed": 0,
        "device": "cpu",
        "classes_per_unit": 3,
    }
    parent = job_submit(kind="fidelity_sweep", params=params)
    assert local_worker().wait(timeout=240)
    parent.refresh_from_db()
    assert parent.status == Job.Status.SUCCEEDED, (parent.step, parent.error)
    units = Job.objects.filter(parent=parent).order_by("pk")
    assert [u.params["block"] for u in units] == [CLASSES[:3], CLASSES[3:]]
    assert {u.kind for u in units} == {"fidelity_sweep_block"}
    assert sorted(counted) == [0, 1, 2, 3]

    sweep = FidelitySweep.objects.get()
    assert parent.result == {"fidelity_sweep": sweep.pk, "table": sweep.table}
    foreground = _run(scenario)  # the same run folder: nothing refitted, the same row
    assert foreground.pk == sweep.pk and sorted(counted) == [0, 1, 2, 3]
    assert_same_table(sweep.table, core_table(scenario))

    # The combine done again (a redelivered parent) adds no row.
    from explainers.job_kinds import fidelity_sweep_combine

    assert fidelity_sweep_combine(parent.params, [])["fidelity_sweep"] == sweep.pk
    assert FidelitySweep.objects.count() == 1


def test_a_unit_redelivered_after_its_worker_died_resumes_its_block(scenario, counted):
    from explainers.job_kinds import fidelity_sweep, fidelity_sweep_block

    fan = fidelity_sweep(
        {"scenario": scenario.pk, "classes": CLASSES, "n_components": [2], "device": "cpu"},
        progress=lambda fraction, step: None,
    )
    assert [unit["block"] for unit in fan.units] == [[name] for name in CLASSES]  # ≤ 200 units
    block = {**fan.units[0], "block": CLASSES[:2]}
    fidelity_sweep_block(block, progress=lambda fraction, step: None)
    assert counted == [0, 1]
    fidelity_sweep_block(block, progress=lambda fraction, step: None)  # redelivered
    assert counted == [0, 1]


def test_bad_input_fails_before_anything_is_written(scenario):
    from django.core.exceptions import ValidationError

    from explainers.job_kinds import fidelity_sweep

    for params, message in [
        ({"reducers": ["ica"]}, "ica"),
        ({"classes": ["no_such_class"]}, "no_such_class"),
        ({"n_components": [0]}, "n_components"),
        ({"classes_per_unit": 0}, "classes_per_unit=0"),
    ]:
        with pytest.raises(ValidationError, match=message):
            fidelity_sweep(
                {"scenario": scenario.pk, "device": "cpu", **params},
                progress=lambda fraction, step: None,
            )
    assert not (Path(settings.ICELAB_HOME) / "sweeps").exists()


def test_the_admin_shows_the_runs_caption_and_sidecar(admin_client, scenario):
    from django.urls import reverse

    sweep = _run(scenario)
    page = admin_client.get(
        reverse("admin:explainers_fidelitysweep_change", args=[sweep.pk])
    ).content.decode()
    assert "4 classes, 40 test images, c&#x27; = 2..4" in page
    assert "JSON sidecar" in page and sweep.sidecar in page
    assert sweep.run_key.split("/")[0] in page


def test_finishing_before_every_class_is_done_names_what_is_missing(scenario):
    from django.core.exceptions import ValidationError

    from explainers.services.fidelity import (
        fidelity_sweep_plan_of_run,
        fidelity_sweep_prepare,
        fidelity_sweep_run_block,
    )

    plan = fidelity_sweep_plan(
        scenario=scenario, reducers=("pca",), n_components=(2,), classes=CLASSES, seed=0
    )
    with pytest.raises(ValidationError, match="no prepared sweep"):
        fidelity_sweep_finish(plan=plan)
    with pytest.raises(ValidationError, match="holds no prepared sweep"):
        fidelity_sweep_plan_of_run(plan.key)
    fidelity_sweep_prepare(plan=plan, device="cpu")
    assert fidelity_sweep_plan_of_run(plan.key) == plan
    fidelity_sweep_run_block(plan=plan, classes=CLASSES[:2], device="cpu")
    with pytest.raises(ValidationError, match="class-00002.npz is missing"):
        fidelity_sweep_finish(plan=plan)
    with pytest.raises(ValidationError, match="not in this sweep"):
        fidelity_sweep_run_block(plan=plan, classes=["class_09"], device="cpu")
    assert FidelitySweep.objects.count() == 0
