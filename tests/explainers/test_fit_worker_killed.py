"""A Celery worker killed (kill -9, pool included) in the middle of fitting: the fit loses nothing.

Two real workers fit 4 classes (one ``fit_explainer`` unit each); the submitting script
kills the worker of the first unit it sees running. The other worker takes that unit
over after Redis's visibility timeout (3 s here) and the parent combines: four runs,
each fitted once into one row with its concepts and one whole reducer file.
"""

from __future__ import annotations

import json

import pytest

from tests.celery_workers import celery_workers
from tests.explainers.test_celery_worker import _redis_is_up

pytestmark = [
    pytest.mark.skipif(not _redis_is_up(), reason="Redis is not running on 127.0.0.1:6379"),
    pytest.mark.slow,  # ~40 s: both workers and the script import torch and fit
]

FIT_AND_KILL = """
import json, os, signal, sys, time
from pathlib import Path
import numpy as np
from django.conf import settings
from explainers.models import Concept, ExplainerRun
from explainers.services import classifier_create, dataset_create_imagefolder, scenario_create
from jobs.models import Job
from jobs.services import job_submit
scenario = scenario_create(
    dataset=dataset_create_imagefolder(name="tiny", path=sys.argv[1]),
    classifier=classifier_create(name="tiny", checkpoint=sys.argv[2]), layer="layer4", input_size=64,
)
classes = list(scenario.dataset.class_names[:4])
parent = job_submit(kind="fit_explainers", params={
    "scenario": scenario.pk, "reducer": "nmf", "classes": classes, "n_components": 3})
victim, deadline = None, time.time() + 120
while victim is None and time.time() < deadline:
    unit = Job.objects.filter(parent=parent, status="running").exclude(worker="").first()
    if unit is not None:
        pid = int(unit.worker.split(":")[1])
        os.killpg(os.getpgid(pid), signal.SIGKILL)  # the worker and its pool process
        victim = {"unit": unit.pk, "pid": pid}
    time.sleep(0.02)
while time.time() < deadline and parent.status in Job.ACTIVE:
    time.sleep(0.2)
    parent.refresh_from_db()
home = Path(settings.ICELAB_HOME) / "explainers"
print(json.dumps({
    "victim": victim,
    "status": parent.status, "error": parent.error, "progress": parent.progress, "result": parent.result,
    "units": {u.pk: {"status": u.status, "attempts": u.attempts} for u in Job.objects.filter(parent=parent)},
    "runs": {r.pk: {"status": r.status, "concepts": Concept.objects.filter(run=r).count(),
                    "file": r.reducer_file} for r in ExplainerRun.objects.all()},
    "files": sorted(p.name for p in home.iterdir()),
    "loadable": all(len(np.load(p).files) > 0 for p in home.glob("run-*.npz")),
}))
"""


def test_a_worker_killed_mid_fit_loses_nothing(tmp_path, imagefolder, checkpoint):
    with celery_workers(
        tmp_path, 2, ICELAB_BROKER_VISIBILITY_TIMEOUT="3", ICELAB_JOB_STALE_SECONDS="5"
    ) as workers:
        out = workers.run_script(FIT_AND_KILL, str(imagefolder), str(checkpoint), timeout=300)
        report = json.loads(out.strip().splitlines()[-1])
        logs = workers.log_tails()
    assert report["victim"] is not None, logs
    assert report["status"] == "succeeded", (report, logs)
    assert report["progress"] == 100
    runs = report["runs"]
    assert len(runs) == 4 and sorted(report["result"]["runs"]) == sorted(int(pk) for pk in runs)
    assert all(run["status"] == "succeeded" and run["concepts"] == 3 for run in runs.values())
    units = report["units"]
    assert {unit["status"] for unit in units.values()} == {"succeeded"}
    assert units[str(report["victim"]["unit"])]["attempts"] == 2  # killed once, then taken over
    assert sum(unit["attempts"] for unit in units.values()) == 5
    whole = [name for name in report["files"] if not name.endswith(".tmp")]
    assert sorted(whole) == sorted(run["file"].split("/")[-1] for run in runs.values())
    assert report["loadable"]
    leftovers = [name for name in report["files"] if name.endswith(".tmp")]
    assert all(f".{report['victim']['pid']}-" in name for name in leftovers)
