"""Two real Celery workers on Redis share a fan-out; one is killed (kill -9) in the middle of a unit.

Each worker is ``celery -A config worker --concurrency=1`` (prefork, as deployed) in its
own process group, on a queue of this test's own, with the test-only kinds of
:mod:`tests.jobs.fanout_kinds` (``--include``). The workers and a submitting process
share a database of their own (a SQLite file, or a fresh PostgreSQL database when the
suite runs on PostgreSQL), as in ``tests/explainers/test_celery_worker.py``.

Unit 3 stops half-way through writing its file and waits; the test kills its worker's
whole process group (the worker and its pool process, as when a machine dies), then
lets the unit go on. The task was never acknowledged, so Redis hands it to the other
worker after the visibility timeout (3 s here); that worker finds the unit's owner gone,
takes it over and writes it whole; the last unit wakes the parent, which combines.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from config import deploy
from tests.explainers.test_celery_worker import BROKER, _redis_is_up, _worker_database

ROOT = Path(__file__).resolve().parents[2]
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
    database_url, cleanup = _worker_database(tmp_path)
    queue = f"test-fanout-{uuid.uuid4().hex[:8]}"  # no message of another run reaches these workers
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "icelab-tests-not-secret",
        "ICELAB_HOME": str(tmp_path / "home"),
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": BROKER,
        "CELERY_RESULT_BACKEND": "",
        "ICELAB_GPU_QUEUE": queue,  # the test kinds go to the gpu route
        "ICELAB_BROKER_VISIBILITY_TIMEOUT": "3",
        "ICELAB_JOB_STALE_SECONDS": "5",
        "PYTHONPATH": str(ROOT),
    }
    command = deploy.with_option(deploy.GPU_WORKER, "queues", queue)
    command += ["--include=tests.jobs.fanout_kinds", "--without-mingle", "--without-gossip"]
    workers, logs = [], []
    try:
        for name in ("a", "b"):
            log = tmp_path / f"worker-{name}.log"
            logs.append(log)
            node = f"fanout-{name}-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
            workers.append(
                subprocess.Popen(
                    deploy.local(command) + ["-n", node],
                    cwd=ROOT,
                    env=env,
                    stdout=log.open("w"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: killed whole, pool included
                )
            )
        subprocess.run(
            deploy.local(deploy.MIGRATE) + ["-v", "0"], cwd=ROOT, env=env, check=True, timeout=120
        )
        script = tmp_path / "fanout_script.py"
        script.write_text("import django\ndjango.setup()\n" + SCRIPT)
        yield {"env": env, "workers": workers, "logs": logs, "script": script}
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        cleanup()
        _forget_queue(queue)


def _forget_queue(queue: str) -> None:
    """Remove the queue and kombu's bindings for it, so runs leave nothing in the test's Redis db."""
    import redis

    client = redis.Redis.from_url(BROKER)
    client.delete(queue, *client.keys(f"_kombu.binding*.{queue}"))


def _script(workers, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(workers["script"]), *args],
        cwd=ROOT,
        env=workers["env"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _logs(workers) -> str:
    return "\n".join(log.read_text()[-2500:] for log in workers["logs"])


def _wait_for(path: Path, workers, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared\n{_logs(workers)}"
        time.sleep(0.05)


def test_a_worker_killed_mid_unit_loses_nothing_and_duplicates_nothing(two_workers, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    parent = _script(two_workers, "submit", str(out), str(UNITS), str(HELD))["id"]

    _wait_for(out / f"holding-{HELD}", two_workers)
    holder = int((out / f"holding-{HELD}").read_text())
    (victim,) = [w for w in two_workers["workers"] if os.getpgid(holder) == w.pid]
    os.killpg(victim.pid, signal.SIGKILL)  # the worker and its pool process, mid-unit
    victim.wait(timeout=10)
    (out / "release").touch()

    job = _script(two_workers, "wait", str(parent), "60")
    assert job["status"] == "succeeded", (job, _logs(two_workers))
    assert job["progress"] == 100
    assert job["result"] == {"sum_of_squares": sum(n * n for n in range(UNITS)), "units": UNITS}

    # One child row per unit, each succeeded; only the held unit needed a second attempt.
    children = job["children"]
    assert sorted(child["n"] for child in children) == list(range(UNITS))
    assert {child["status"] for child in children} == {"succeeded"}
    assert {child["n"]: child["attempts"] for child in children} == {
        n: 2 if n == HELD else 1 for n in range(UNITS)
    }
    # Each unit started once, except the held one: once in the killed worker, once in the other.
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
