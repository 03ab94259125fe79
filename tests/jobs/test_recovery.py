"""A job whose process died is run again (or failed with the reason), never left queued or running forever."""

import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import recovery
from jobs import services as jobs
from jobs.models import Job
from jobs.ownership import HOST, owner_is_gone, this_worker


@pytest.fixture
def dead_worker() -> str:
    """The name of a worker on this host whose process has exited."""
    process = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return f"{HOST}:{int(process.stdout)}:deadbeef"


def _running(worker: str, *, attempts: int = 1, beat_age: float = 0) -> Job:
    beat = timezone.now() - timedelta(seconds=beat_age)
    return Job.objects.create(
        kind="ping",
        idempotency_key=f"{worker}-{attempts}-{beat_age}",
        status=Job.Status.RUNNING,
        worker=worker,
        attempts=attempts,
        started_at=beat,
        heartbeat_at=beat,
    )


def test_it_tells_a_dead_worker_from_a_live_one(db, dead_worker, settings):
    settings.ICELAB_JOB_STALE_SECONDS = 300
    assert owner_is_gone(_running(dead_worker))
    assert not owner_is_gone(_running(this_worker()))
    # An earlier life of this very process (same pid, another token), e.g. pid 1 in a container.
    host, pid, _ = this_worker().split(":")
    assert owner_is_gone(_running(f"{host}:{pid}:0ld70ken"))
    # Another machine: alive while it beats, gone once its heartbeat is stale.
    assert not owner_is_gone(_running("gpu-node-7:4242:abcd", beat_age=10))
    assert owner_is_gone(_running("gpu-node-7:4343:abcd", beat_age=301))


def test_a_dead_workers_job_is_queued_again_and_run(db, dead_worker, monkeypatch):
    dispatched = []
    monkeypatch.setattr(jobs, "job_dispatch", lambda *, job: dispatched.append(job.pk))
    orphan = _running(dead_worker)
    alive = _running("gpu-node-7:4242:abcd", beat_age=1)
    outcome = jobs.job_recover()
    assert outcome["requeued"] == [orphan.pk] and dispatched == [orphan.pk]
    orphan.refresh_from_db()
    assert orphan.status == Job.Status.QUEUED and dead_worker in orphan.step
    finished = jobs.job_run(orphan.pk)
    assert finished.status == Job.Status.SUCCEEDED and finished.attempts == 2
    alive.refresh_from_db()
    assert alive.status == Job.Status.RUNNING  # a live worker's job is left alone


def test_after_its_last_attempt_it_is_marked_failed_with_the_reason(db, dead_worker, settings):
    settings.ICELAB_JOB_MAX_ATTEMPTS = 3
    orphan = _running(dead_worker, attempts=3)
    assert jobs.job_recover()["failed"] == [orphan.pk]
    orphan.refresh_from_db()
    assert orphan.status == Job.Status.FAILED
    assert dead_worker in orphan.error and "3 time(s)" in orphan.error


def test_without_a_broker_queued_jobs_of_a_dead_process_are_dispatched(db, settings, monkeypatch):
    settings.CELERY_BROKER_URL = ""
    dispatched = []
    monkeypatch.setattr(jobs, "job_dispatch", lambda *, job: dispatched.append(job.pk))
    queued = Job.objects.create(kind="ping", idempotency_key="q")
    assert jobs.job_recover()["dispatched"] == [queued.pk] == dispatched


def test_with_a_broker_queued_jobs_stay_with_the_broker(db, settings, monkeypatch):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/15"
    monkeypatch.setattr(jobs, "job_dispatch", lambda *, job: pytest.fail("dispatched twice"))
    Job.objects.create(kind="ping", idempotency_key="q", sent_at=timezone.now())  # in the broker
    assert jobs.job_recover()["dispatched"] == []


def test_a_redelivered_task_takes_over_a_job_whose_worker_died(db, dead_worker):
    # Celery redelivers an unacknowledged task when its worker is lost: job_run claims it again.
    orphan = _running(dead_worker)
    finished = jobs.job_run(orphan.pk)
    assert finished.status == Job.Status.SUCCEEDED and finished.worker == this_worker()


def test_a_second_delivery_leaves_a_live_job_alone(db):
    alive = _running("gpu-node-7:4242:abcd", beat_age=1)
    assert jobs.job_run(alive.pk).status == Job.Status.RUNNING
    alive.refresh_from_db()
    assert alive.attempts == 1 and alive.worker == "gpu-node-7:4242:abcd"


def test_the_first_request_of_a_process_recovers_once(db, client, monkeypatch):
    calls = []
    monkeypatch.setattr(recovery, "_DONE", type(recovery._DONE)())
    monkeypatch.setattr(jobs, "job_recover", lambda: calls.append(1) or {})
    client.get("/admin/login/")
    client.get("/admin/login/")
    assert calls == [1]
