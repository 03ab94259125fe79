"""Jobs: idempotent submission, progress, failures recorded and retryable, the local worker, Celery dispatch."""

import pytest
from django.core.exceptions import ValidationError

from jobs import registry
from jobs import services as jobs
from jobs.models import Job
from jobs.progress import JobProgress
from jobs.worker import local_worker


@pytest.fixture
def flaky_kind(monkeypatch):
    """A job kind that fails until ``state["broken"]`` is cleared."""
    state = {"broken": True}

    def handler(params, progress):
        progress(0.5, "half way")
        if state["broken"]:
            raise RuntimeError("disk on fire")
        return {"ok": params["n"]}

    monkeypatch.setitem(registry._KINDS, "flaky", registry.JobKind("flaky", handler))
    return state


def test_submitting_the_same_work_twice_returns_the_active_job(
    db, django_capture_on_commit_callbacks, monkeypatch
):
    dispatched = []
    monkeypatch.setattr(jobs, "job_dispatch", lambda *, job: dispatched.append(job.pk))
    with django_capture_on_commit_callbacks(execute=True):
        first = jobs.job_submit(kind="ping", params={"sleep": 0})
        second = jobs.job_submit(kind="ping", params={"sleep": 0})
        other = jobs.job_submit(kind="ping", params={"sleep": 0.01})
    assert first.pk == second.pk != other.pk
    assert dispatched == [first.pk, other.pk]


def test_an_unknown_kind_is_refused(db):
    with pytest.raises(ValidationError, match="unknown"):
        jobs.job_submit(kind="make_coffee", params={})


def test_a_failure_is_recorded_and_the_job_can_be_retried(
    db, flaky_kind, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(jobs, "job_dispatch", lambda *, job: None)
    job = jobs.job_submit(kind="flaky", params={"n": 7})
    job = jobs.job_run(job.pk)
    assert job.status == Job.Status.FAILED
    assert "RuntimeError: disk on fire" in job.error and "Traceback" in job.error
    assert job.step.startswith("failed") and job.attempts == 1 and job.finished_at is not None

    flaky_kind["broken"] = False
    with django_capture_on_commit_callbacks(execute=True):
        retried = jobs.job_retry(job=job)
    assert retried.pk == job.pk and retried.status == Job.Status.QUEUED
    job = jobs.job_run(job.pk)
    assert job.status == Job.Status.SUCCEEDED
    assert job.result == {"ok": 7} and job.attempts == 2 and job.error == "" and job.progress == 100


def test_a_finished_job_is_not_retried(db, monkeypatch):
    monkeypatch.setattr(jobs, "job_dispatch", lambda *, job: None)
    job = jobs.job_run(jobs.job_submit(kind="ping", params={}).pk)
    with pytest.raises(ValidationError, match="only failed or queued jobs"):
        jobs.job_retry(job=job)


def test_a_queued_job_left_behind_is_dispatched_again(
    db, monkeypatch, django_capture_on_commit_callbacks
):
    dispatched = []
    monkeypatch.setattr(jobs, "job_dispatch", lambda *, job: dispatched.append(job.pk))
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.job_submit(kind="ping", params={})
        jobs.job_retry(job=job)
    assert dispatched == [job.pk, job.pk]
    assert jobs.job_run(job.pk).status == Job.Status.SUCCEEDED
    assert jobs.job_run(job.pk).attempts == 1  # the second delivery finds it done


def test_running_a_finished_job_again_does_nothing(db, monkeypatch):
    monkeypatch.setattr(jobs, "job_dispatch", lambda *, job: None)
    job = jobs.job_run(jobs.job_submit(kind="ping", params={}).pk)
    monkeypatch.setitem(
        registry._KINDS, "ping", registry.JobKind("ping", lambda *a: pytest.fail("ran twice"))
    )
    again = jobs.job_run(job.pk)
    assert again.status == Job.Status.SUCCEEDED and again.attempts == 1


def test_progress_is_written_to_the_job(db, monkeypatch):
    seen = []

    def handler(params, progress):
        progress(0.25, "a quarter")
        seen.append(Job.objects.get(kind="steps").progress)
        return {}

    monkeypatch.setitem(registry._KINDS, "steps", registry.JobKind("steps", handler))
    monkeypatch.setattr(jobs, "job_dispatch", lambda *, job: None)
    jobs.job_run(jobs.job_submit(kind="steps", params={}).pk)
    assert seen == [25.0]


def test_progress_writes_are_throttled(db):
    job = Job.objects.create(kind="ping", idempotency_key="x")
    progress = JobProgress(job.pk, interval=60)
    progress(0.1, "first")
    progress(0.2, "second, too soon")
    job.refresh_from_db()
    assert (job.progress, job.step) == (10.0, "first")
    progress(1.0, "done is always written")
    job.refresh_from_db()
    assert job.progress == 100.0


def test_with_a_broker_torch_jobs_go_to_the_gpu_queue(
    db, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from jobs import tasks

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/15"
    sent = []
    monkeypatch.setattr(
        tasks.run_job, "apply_async", lambda args, queue: sent.append((args, queue))
    )
    with django_capture_on_commit_callbacks(execute=True):
        fit = jobs.job_submit(kind="fit_explainers", params={"scenario": 1, "reducer": "nmf"})
        ping = jobs.job_submit(kind="ping", params={})
    assert sent == [([fit.pk], "gpu"), ([ping.pk], "celery")]


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_the_local_worker_runs_the_job(settings):
    settings.CELERY_BROKER_URL = ""
    job = jobs.job_submit(kind="ping", params={"sleep": 0.05, "tag": "local"})
    # The request returned before the job ran; the worker thread finishes it.
    assert local_worker().wait(timeout=20)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.result["pong"] is True


def test_a_job_whose_worker_died_can_be_marked_failed_and_retried(
    db, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(jobs, "job_dispatch", lambda *, job: None)
    job = jobs.job_submit(kind="ping", params={})
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING
    )  # a worker took it, then vanished
    assert jobs.job_submit(kind="ping", params={}).pk == job.pk  # still blocks resubmission
    abandoned = jobs.job_abandon(job=job)
    assert abandoned.status == Job.Status.FAILED and "marked as failed" in abandoned.error
    assert jobs.job_run(jobs.job_retry(job=abandoned).pk).status == Job.Status.SUCCEEDED
    with pytest.raises(ValidationError, match="only running jobs"):
        jobs.job_abandon(job=abandoned)
