"""Two real Celery workers on Redis share a fidelity sweep and give the single-process table.

The workers (``tests.celery_workers``: the deployed GPU worker command, a database and
an ICELAB_HOME of their own, a queue of this run's own) get the ``fidelity_sweep`` job
with one class per unit; a submitting script waits for it. The reference is the same
sweep run in this process by the service in the foreground. Same code, same seeds, same
activations: the tables must be equal (Fid_r to 1e-6), timings aside.
"""

from __future__ import annotations

import json

import pytest

from tests.celery_workers import celery_workers
from tests.explainers.test_celery_worker import _redis_is_up
from tests.explainers.test_fidelity_sweep_runs import (
    CLASSES,
    N_COMPONENTS,
    REDUCERS,
    _run,
    assert_same_table,
)

pytestmark = [
    pytest.mark.skipif(
        not _redis_is_up(), reason="Redis is not running on 127.0.0.1:6379 (CI starts it)"
    ),
    pytest.mark.slow,  # ~30-50 s: both workers and the script import torch, run the CNN and fit
]

SCRIPT = """
import json, sys, time
from explainers.services import classifier_create, dataset_create_imagefolder, scenario_create
from jobs.models import Job
from jobs.services import job_submit
scenario = scenario_create(
    dataset=dataset_create_imagefolder(name="tiny", path=sys.argv[1]),
    classifier=classifier_create(name="tiny-resnet", checkpoint=sys.argv[2]),
    layer="layer4", input_size=64,
)
params = json.loads(sys.argv[3])
job = job_submit(kind="fidelity_sweep", params={"scenario": scenario.pk, **params})
deadline = time.time() + 150
while time.time() < deadline and job.status in Job.ACTIVE:
    time.sleep(0.2)
    job.refresh_from_db()
units = [{"block": u.params["block"], "status": u.status, "worker": u.worker}
         for u in Job.objects.filter(parent=job).order_by("pk")]
print(json.dumps({"status": job.status, "result": job.result, "error": job.error,
                  "step": job.step, "units": units}))
"""


def test_two_workers_give_the_single_process_table(scenario, imagefolder, checkpoint, tmp_path):
    params = {
        "reducers": list(REDUCERS),
        "n_components": list(N_COMPONENTS),
        "classes": CLASSES,
        "seed": 0,
        "device": "cpu",
        "classes_per_unit": 1,
    }
    # A folder of their own: this process's ICELAB_HOME is tmp_path / "home".
    folder = tmp_path / "workers"
    folder.mkdir()
    with celery_workers(folder, 2) as workers:
        output = workers.run_script(SCRIPT, str(imagefolder), str(checkpoint), json.dumps(params))
        job = json.loads(output.strip().splitlines()[-1])
        assert job["status"] == "succeeded", (job, workers.log_tails())
    assert [unit["block"] for unit in job["units"]] == [[name] for name in CLASSES]
    assert {unit["status"] for unit in job["units"]} == {"succeeded"}

    single = _run(scenario)  # this process, its own database and ICELAB_HOME
    assert_same_table(job["result"]["table"], single.table)
