"""The fit_explainers job fans out one fit_explainer unit per (reducer, class); a unit redone adds nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from explainers.models import Concept, ExplainerRun, RunStatus
from jobs import services as jobs
from jobs.models import Job
from jobs.ownership import HOST

CLASSES = ["class_00", "class_01"]


@pytest.fixture
def dispatched(monkeypatch) -> list[int]:
    handed: list[int] = []
    monkeypatch.setattr(jobs, "job_dispatch", lambda *, job: handed.append(job.pk))
    return handed


def test_units_per_reducer_and_class_and_a_redone_unit_duplicates_nothing(scenario, dispatched):
    parent = jobs.job_submit(
        kind="fit_explainers",
        params={
            "scenario": scenario.pk,
            "reducers": ["nmf", "pca"],
            "classes": CLASSES,
            "n_components": 3,
        },
    )
    assert jobs.job_run(parent.pk).status == Job.Status.WAITING
    units = list(Job.objects.filter(parent=parent).order_by("pk"))
    assert [(u.kind, u.params["reducer"], u.params["class_name"]) for u in units] == [
        ("fit_explainer", reducer, name) for reducer in ("nmf", "pca") for name in CLASSES
    ]
    assert dispatched == [unit.pk for unit in units]
    for _ in units:
        assert jobs.job_run(dispatched.pop(0)).status == Job.Status.SUCCEEDED

    # The first unit is delivered again as if its worker had died mid-fit: its run row was
    # left running. It fits that row again; no second run, no second set of concepts.
    died = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    first = units[0]
    run_id = Job.objects.get(pk=first.pk).result["run"]
    ExplainerRun.objects.filter(pk=run_id).update(status=RunStatus.RUNNING)
    Job.objects.filter(pk=first.pk).update(
        status=Job.Status.RUNNING, worker=f"{HOST}:{int(died.stdout)}:deadbeef"
    )
    redone = jobs.job_run(first.pk)
    assert redone.status == Job.Status.SUCCEEDED and redone.attempts == 2
    assert redone.result["run"] == run_id
    assert ExplainerRun.objects.filter(scenario=scenario).count() == 4
    assert Concept.objects.filter(run_id=run_id).count() == 3
    run = ExplainerRun.objects.get(pk=run_id)
    assert (
        run.status == RunStatus.SUCCEEDED
        and (Path(settings.ICELAB_HOME) / run.reducer_file).is_file()
    )

    assert dispatched == [parent.pk]  # woken once, by the last unit of the first round
    done = jobs.job_run(parent.pk)
    assert done.status == Job.Status.SUCCEEDED and done.progress == 100
    assert done.result == {"runs": [Job.objects.get(pk=u.pk).result["run"] for u in units]}
    assert len(set(done.result["runs"])) == 4


def test_bad_input_fails_the_job_before_any_unit_exists(scenario, dispatched):
    parent = jobs.job_submit(
        kind="fit_explainers", params={"scenario": scenario.pk, "reducer": "ica"}
    )
    failed = jobs.job_run(parent.pk)
    assert failed.status == Job.Status.FAILED and "reducer='ica' is not one of" in failed.step
    assert not Job.objects.filter(parent=parent).exists()
