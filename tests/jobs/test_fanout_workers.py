"""Two real Celery workers on Redis share a fan-out; one is killed (kill -9) in the middle of a unit.

Each worker is ``celery -A config worker --concurrency=1`` (prefork, as deployed) in its
own process group, on a queue of this test's own, with the test-only kinds of
:mod:`tests.jobs.fanout_kinds` (``--include``). The workers and a submitting process
share a database of their own (a SQLite file, or a fresh PostgreSQL database when the
suite runs on PostgreSQL), as in ``tests/explainers/test_celery_worker.py``.

Unit 3 stops half-way through writing its file and waits; the test kills either its
worker's whole process group (the worker and its pool process, as when a machine dies)
or only the pool process running it (as the OOM killer does), then lets the unit go on.
A whole worker never acknowledged the task, so Redis hands it to the other worker after
the visibility timeout (3 s here); a worker whose pool process died rejects the task
back to the queue at once (``reject_on_worker_lost``). The worker that gets it finds the
unit's owner gone, takes it over and writes it whole; the last unit wakes the parent.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.celery_workers import celery_workers
from tests.explainers.test_celery_worker import _redis_is_up

UNITS, HELD = 8, 3

SCRIPT = """
import json, sys, time
from jobs.models import Job
from jobs.services import job_submit
from tests.jobs import fanout_kinds
mode = sys.argv[1]
if mode == "submit":
    job = job_submit(kind=fanout_kinds.PARENT, params={"out": sys.argv[2], "units": int(sys.argv[3]), "hold": [int(sys.argv[4])]})
    print(json.dumps({"id": job.pk}))
else:
    job = Job.objects.get(pk=int(sys.argv[2]))
    deadline = time.time() + float(sys.argv[3])
    while time.time() < deadline and job.status in Job.ACTIVE:
        time.sleep(0.2)
        job.refresh_from_db()
    children = [
        {"n": c.params["n"], "status": c.status, "attempts": c.attempts, "result": c.result, "error": c.error}
        for c in Job.objects.filter(parent=job).order_by("pk")
    ]
    print(json.dumps({"status": job.status, "progress": job.progress, "result": job.result,
                      "error": job.error, "step": job.step, "children": children}))
"""

pytestmark = pytest.mark.skipif(
    not _redis_is_up(), reason="Redis is not running on 127.0.0.1:6379 (CI starts it)"
)


@pytest.fixture
def two_workers(tmp_path):
    with celery_workers(
        tmp_path,
        2,
        include="tests.jobs.fanout_kinds",  # the test kinds, on the gpu route
        ICELAB_BROKER_VISIBILITY_TIMEOUT="3",
        ICELAB_JOB_STALE_SECONDS="5",
    ) as workers:
        yield workers


def _script(workers, *args: str) -> dict:
    return json.loads(workers.run_script(SCRIPT, *args).strip().splitlines()[-1])


def _wait_for(path: Path, workers, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared\n{workers.log_tails()}"
        time.sleep(0.05)


@pytest.mark.parametrize("killed", ["worker", "pool process"])
def test_a_worker_killed_mid_unit_loses_nothing_and_duplicates_nothing(
    two_workers, tmp_path, killed
):
    out = tmp_path / "out"
    out.mkdir()
    parent = _script(two_workers, "submit", str(out), str(UNITS), str(HELD))["id"]

    _wait_for(out / f"holding-{HELD}", two_workers)
    holder = int((out / f"holding-{HELD}").read_text())
    victim = two_workers.holding(holder)
    if killed == "worker":  # the worker and its pool process, as when a machine dies
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
    else:  # only the process running the unit, as the kernel's OOM killer does
        os.kill(holder, signal.SIGKILL)
    (out / "release").touch()

    job = _script(two_workers, "wait", str(parent), "60")
    assert job["status"] == "succeeded", (job, two_workers.log_tails())
    assert job["progress"] == 100
    assert job["result"] == {"sum_of_squares": sum(n * n for n in range(UNITS)), "units": UNITS}

    # One child row per unit, each succeeded; only the held unit needed a second attempt.
    children = job["children"]
    assert sorted(child["n"] for child in children) == list(range(UNITS))
    assert {child["status"] for child in children} == {"succeeded"}
    assert {child["n"]: child["attempts"] for child in children} == {
        n: 2 if n == HELD else 1 for n in range(UNITS)
    }
    # Each unit started once, except the held one: once in the killed process, once in another.
    starts = [line.split() for line in (out / "starts.log").read_text().splitlines()]
    assert sorted(int(n) for n, _ in starts) == sorted([*range(UNITS), HELD])
    held_pids = [int(pid) for n, pid in starts if int(n) == HELD]
    assert held_pids[0] == holder and held_pids[1] != holder
    # Every file is whole; the killed process could leave only its own hidden temp file.
    for n in range(UNITS):
        assert json.loads((out / f"square-{n}.json").read_text())["square"] == n * n
    leftovers = [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    assert all(name.startswith(f".square-{HELD}.json.{holder}-") for name in leftovers)
    assert len(leftovers) <= 1
