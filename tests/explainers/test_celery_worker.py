"""A real Celery worker on Redis runs jobs end to end (a ping and a real fit on the tiny scenario).

The worker is a separate process, so it cannot see pytest-django's test database (in
memory on SQLite, inside a transaction otherwise). The test therefore gives the worker
and a submitting process their own database — a SQLite file, or a fresh PostgreSQL
database when the suite runs on PostgreSQL — migrates it, submits through
``job_submit`` with ``CELERY_BROKER_URL`` set, and waits for the jobs to succeed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from config import deploy

ROOT = Path(__file__).resolve().parents[2]
# A Redis database of its own (ICELAB_TEST_CELERY_BROKER on a machine shared with other runs).
BROKER = os.environ.get("ICELAB_TEST_CELERY_BROKER", "redis://127.0.0.1:6379/15")

SUBMIT_AND_WAIT = """
import json, sys, time
from jobs.services import job_submit
from jobs.models import Job
mode, tag = sys.argv[1], sys.argv[2]
if mode == "ping":
    job = job_submit(kind="ping", params={"tag": tag})
else:
    from explainers.services import classifier_create, dataset_create_imagefolder, scenario_create
    scenario = scenario_create(
        dataset=dataset_create_imagefolder(name="tiny", path=sys.argv[3]),
        classifier=classifier_create(name="tiny", checkpoint=sys.argv[4]), layer="layer4", input_size=64,
    )
    job = job_submit(kind="fit_explainers", params={"scenario": scenario.pk, "reducer": "nmf", "classes": ["class_00"]})
deadline = time.time() + 90
while time.time() < deadline and job.status in Job.ACTIVE:
    time.sleep(0.1)
    job.refresh_from_db()
print(json.dumps({"status": job.status, "result": job.result, "error": job.error}))
"""


def _redis_is_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not _redis_is_up(), reason="Redis is not running on 127.0.0.1:6379 (CI starts it)"
)


def process_environment(folder: Path, database_url: str, **settings_env: str) -> dict[str, str]:
    """The environment of a Django process of the test's own (a worker, a command): production
    settings on ``database_url``, ``ICELAB_HOME`` in ``folder``; ``settings_env`` adds to it."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "icelab-tests-not-secret",
        "ICELAB_HOME": str(folder / "home"),
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(ROOT),
        **settings_env,
    }


def _worker_database(folder: Path):
    """(DATABASE_URL for the subprocesses, cleanup function)."""
    default = settings.DATABASES["default"]
    if "sqlite" in default["ENGINE"]:
        return f"sqlite:///{folder / 'worker.sqlite3'}", lambda: None
    import psycopg

    name = f"icelab_worker_{uuid.uuid4().hex[:8]}"
    server = {
        "host": default["HOST"] or "127.0.0.1",
        "port": default["PORT"] or 5432,
        "user": default["USER"],
        "password": default["PASSWORD"] or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    auth = server["user"] + (f":{server['password']}" if server["password"] else "")
    return f"postgres://{auth}@{server['host']}:{server['port']}/{name}", drop


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    """A migrated database of its own and a Celery worker on Redis consuming the gpu and default queues."""
    folder = tmp_path_factory.mktemp("celery-worker")
    database_url, cleanup = _worker_database(folder)
    env = process_environment(
        folder, database_url, CELERY_BROKER_URL=BROKER, CELERY_RESULT_BACKEND=""
    )
    log_path = folder / "worker.log"
    log = open(log_path, "w")  # noqa: SIM115  (closed at teardown)
    node = f"icelab-test-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
    # docker-compose.yml's worker command (config/deploy.py), on both queues, in one process.
    command = deploy.with_option(deploy.WORKER, "queues", "gpu,celery")
    command += ["-P", "solo", "--without-heartbeat", "--without-mingle", "--without-gossip"]
    process = subprocess.Popen(
        deploy.local(command) + ["-n", node],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        subprocess.run(
            deploy.local(deploy.MIGRATE) + ["-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=120,
        )
        script = folder / "submit_and_wait.py"
        script.write_text(
            f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nimport django\ndjango.setup()\n"
            + SUBMIT_AND_WAIT
        )
        yield {"env": env, "process": process, "script": script, "log": log_path, "node": node}
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        cleanup()


def _submit_and_wait(worker, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(worker["script"]), *args],
        cwd=ROOT,
        env=worker["env"],
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_worker_on_redis_runs_a_job_submitted_elsewhere(worker):
    job = _submit_and_wait(worker, "ping", uuid.uuid4().hex)
    assert job["status"] == "succeeded", (job, worker["log"].read_text()[-3000:])
    assert (
        job["result"]["pid"] == worker["process"].pid
    )  # run by the worker process, not the submitter


def test_it_answers_the_compose_health_check(worker):
    """docker-compose.yml's worker health check: a ping to this worker's node only."""
    _submit_and_wait(worker, "ping", uuid.uuid4().hex)  # the worker is up and consuming
    done = subprocess.run(
        deploy.local(deploy.WORKER_PING) + ["-d", worker["node"]],
        cwd=ROOT,
        env=worker["env"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, (done.stdout, done.stderr[-2000:])
    assert "pong" in done.stdout and worker["node"] in done.stdout
    missing = subprocess.run(
        deploy.local(deploy.WORKER_PING) + ["--timeout=2", "-d", "celery@no-such-node"],
        cwd=ROOT,
        env=worker["env"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode != 0  # a worker that does not answer fails the check


@pytest.mark.slow  # ~10-20 s: the worker and the submitter each import torch and load the classifier
def test_a_worker_on_redis_fits_an_explainer(worker, imagefolder, checkpoint):
    job = _submit_and_wait(worker, "fit", uuid.uuid4().hex, str(imagefolder), str(checkpoint))
    assert job["status"] == "succeeded", (job, worker["log"].read_text()[-3000:])
    assert len(job["result"]["runs"]) == 1
