"""Submitting, running, retrying and recovering jobs.

``job_submit`` records a :class:`~jobs.models.Job` and hands it, once the transaction
commits, to Celery when ``CELERY_BROKER_URL`` is set (on the queue its kind was
registered for) or otherwise to this process's local worker thread: either way the
request that submitted it returns at once. ``job_run`` does the work wherever it runs:
it claims the job (so two deliveries never run it at the same time), keeps a heartbeat,
writes progress, and records the result or the error with its traceback. A job whose
process died is claimed again by the next delivery or by :func:`job_recover` (see
:mod:`jobs.ownership` for how a dead owner is told apart from a slow one). The handlers
are idempotent services, so running finished work again is cheap and harmless.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import traceback
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.db.models import F
from django.utils import timezone

from icelab.errors import ServiceError, error_message

from .fanout import FanOut, UnitsFailed, fan_out_result, fan_out_start, parent_wake, parents_to_wake
from .models import Job
from .ownership import owner_is_gone, this_worker
from .progress import JobProgress
from .registry import job_kind, job_kind_names

logger = logging.getLogger(__name__)


def idempotency_key(kind: str, params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps([kind, params], sort_keys=True).encode()).hexdigest()


def job_submit(*, kind: str, params: dict[str, Any]) -> Job:
    """Queue ``kind`` with ``params``; the same work already queued or running is returned instead."""
    if job_kind(kind) is None:
        raise ServiceError(
            f"job kind {kind!r} is unknown; use one of {', '.join(job_kind_names())}."
        )
    try:
        params = json.loads(json.dumps(params))
    except (TypeError, ValueError) as error:
        raise ServiceError(f"job params must be JSON: {error}") from error
    key = idempotency_key(kind, params)
    with transaction.atomic():
        active = Job.objects.filter(idempotency_key=key, status__in=Job.ACTIVE).first()
        if active is not None:
            return active
        try:
            with transaction.atomic():
                job = Job.objects.create(kind=kind, params=params, idempotency_key=key)
        except IntegrityError:  # submitted concurrently: the other request's job is the one
            return Job.objects.get(idempotency_key=key, status__in=Job.ACTIVE)
        transaction.on_commit(lambda: job_dispatch(job=job))
    return job


def job_retry(*, job: Job) -> Job:
    """Queue a failed job again (or hand a queued one to a worker again); returns the job that will do the work.

    Re-dispatching a queued job is harmless (``job_run`` claims a job once) and recovers
    jobs whose local worker went away with its process before running them.
    """
    if job.status == Job.Status.QUEUED:
        transaction.on_commit(lambda: job_dispatch(job=job))
        return job
    with transaction.atomic():
        try:
            with transaction.atomic():
                updated = Job.objects.filter(pk=job.pk, status=Job.Status.FAILED).update(
                    status=Job.Status.QUEUED, progress=0, step="queued for retry"
                )
        except IntegrityError:  # the same work was resubmitted meanwhile
            return Job.objects.get(idempotency_key=job.idempotency_key, status__in=Job.ACTIVE)
        job.refresh_from_db()
        if not updated:
            raise ServiceError(
                f"job {job.pk} is {job.status}; only failed or queued jobs can be retried."
            )
        # A fan-out runs its failed units again; the parent's run dispatches them.
        Job.objects.filter(parent=job, status=Job.Status.FAILED).update(
            status=Job.Status.QUEUED, progress=0, step="queued for retry with its parent job"
        )
        transaction.on_commit(lambda: job_dispatch(job=job))
    return job


def job_abandon(*, job: Job, reason: str = "its worker stopped before finishing it") -> Job:
    """Mark a running job failed, so work whose worker died can be retried or submitted again."""
    updated = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
        status=Job.Status.FAILED,
        error=f"marked as failed: {reason}",
        step="abandoned",
        finished_at=timezone.now(),
    )
    job.refresh_from_db()
    if not updated:
        raise ServiceError(
            f"job {job.pk} is {job.status}; only running jobs can be marked as failed."
        )
    _unit_ended(job)
    return job


def job_dispatch(*, job: Job) -> None:
    """Hand the job to Celery (a broker is configured) or to this process's local worker.

    A broker that cannot be reached leaves the job queued, with the reason as its step
    (shown in the admin) and no ``sent_at``: the caller's request still succeeds, and
    :func:`job_recover` (``manage.py recover_jobs``, each web process's first request)
    or *Retry* in the admin sends it once the broker is back.
    """
    if settings.CELERY_BROKER_URL:
        from kombu.exceptions import OperationalError

        from .tasks import run_job

        kind = job_kind(job.kind)
        queue = kind.queue if kind is not None else settings.CELERY_TASK_DEFAULT_QUEUE
        try:
            run_job.apply_async(args=[job.pk], queue=queue)
        except (OperationalError, OSError) as error:
            logger.warning("job %s stays queued: the broker is unreachable: %s", job.pk, error)
            Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
                sent_at=None, step=_broker_unreachable(error)
            )
            return
    else:
        from .worker import local_worker

        local_worker().enqueue(job.pk)
    Job.objects.filter(pk=job.pk).update(sent_at=timezone.now())


def _broker_unreachable(error: BaseException) -> str:
    return (
        "waiting: the job broker (CELERY_BROKER_URL) cannot be reached, so no worker has it "
        f"yet ({error_message(error)[:100]}); start Redis, then Retry this job or run "
        "`manage.py recover_jobs`"
    )[:300]


# ----------------------------------------------------------------------------- running


def _claim(job_id: int) -> bool:
    """Take a queued job, or a running one whose process is gone; True when this process has it."""
    fields = dict(
        status=Job.Status.RUNNING,
        attempts=F("attempts") + 1,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        finished_at=None,
        error="",
        progress=0,
        step="starting",
        worker=this_worker(),
    )
    if Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(**fields):
        return True
    job = Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).first()
    if job is None or not owner_is_gone(job):
        return False
    if job.attempts >= settings.ICELAB_JOB_MAX_ATTEMPTS:
        _fail_orphan(job)
        return False
    # Conditional on the row being as we read it, so two recoverers never both take it.
    return bool(
        Job.objects.filter(
            pk=job.pk, status=Job.Status.RUNNING, worker=job.worker, attempts=job.attempts
        ).update(**fields)
    )


def _fail_orphan(job: Job) -> None:
    failed = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, worker=job.worker).update(
        status=Job.Status.FAILED,
        error=(
            f"marked as failed: its worker ({job.worker or 'unknown'}) stopped while running it, "
            f"{job.attempts} time(s); fix the cause and retry it."
        ),
        step="failed: its worker stopped",
        finished_at=timezone.now(),
    )
    if failed:
        _unit_ended(job)


def job_run(job_id: int) -> Job:
    """Run a queued job (or one whose worker died) and record its outcome.

    Anything else is left alone: a job done, failed, waiting, or running in a live process.
    A handler that fans out leaves its job waiting for its units (:mod:`jobs.fanout`).
    """
    if not _claim(job_id):
        return Job.objects.get(pk=job_id)
    job = Job.objects.get(pk=job_id)
    kind = job_kind(job.kind)
    try:
        if kind is None:
            raise ServiceError(f"job kind {job.kind!r} is unknown to this worker.")
        with _Heartbeat(job.pk):
            result = kind.handler(job.params, JobProgress(job.pk, parent_id=job.parent_id))
            if isinstance(result, FanOut):
                result = _fan_out(job, result, kind.combine)
    except Exception as error:
        logger.warning("job %s failed: %s", job.pk, error)
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.FAILED,
            # The units' own errors carry their tracebacks; the parent's says which failed.
            error=error_message(error)
            if isinstance(error, UnitsFailed)
            else traceback.format_exc(),
            finished_at=timezone.now(),
            step=f"failed: {error_message(error)}"[:300],
        )
    else:
        if result is _WAITING:
            job.refresh_from_db()
            return job
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.SUCCEEDED,
            progress=100,
            step="done",
            result=result,
            finished_at=timezone.now(),
        )
    _unit_ended(job)
    job.refresh_from_db()
    return job


_WAITING = object()  # _fan_out's answer while units are still to run


def _fan_out(job: Job, fan: FanOut, combine) -> object:
    """Start ``job``'s units; their combined result once all are done, else ``_WAITING``."""
    children, queued = fan_out_start(job, fan, worker=this_worker())
    for child in queued:
        job_dispatch(job=child)
    if any(child.status in Job.ACTIVE for child in children):
        return _WAITING
    return fan_out_result(job, children, combine)


def _unit_ended(job: Job) -> None:
    """A unit of a fan-out ended (either way): its parent runs again once no unit is left."""
    if job.parent_id is not None and parent_wake(job.parent_id):
        job_dispatch(job=Job.objects.get(pk=job.parent_id))


class _Heartbeat:
    """Refreshes the job's heartbeat from a side thread while a long step reports no progress."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.worker = this_worker()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"job-{job_id}-heartbeat", daemon=True
        )

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        try:
            while not self._stop.wait(settings.ICELAB_JOB_HEARTBEAT_SECONDS):
                Job.objects.filter(pk=self.job_id, worker=self.worker).update(
                    heartbeat_at=timezone.now()
                )
        except Exception:  # a missed beat only makes the job look stale sooner
            logger.exception("heartbeat of job %s failed", self.job_id)
        finally:
            connections.close_all()


# ----------------------------------------------------------------------------- recovery


def job_recover() -> dict[str, list[int]]:
    """Pick up jobs a dead process left behind: requeue or fail running ones, redispatch queued ones.

    Running jobs whose process is gone go back to the queue while they have attempts
    left, and are marked failed with the reason otherwise. Without a broker, queued jobs
    lived only in a dead process's memory, so they are handed to this process's worker
    (a job is claimed once, so a second hand-off is harmless); with one, queued jobs
    that were never sent (the broker was down) are sent now.
    """
    requeued, failed = [], []
    for job in Job.objects.filter(status=Job.Status.RUNNING):
        if not owner_is_gone(job):
            continue
        if job.attempts >= settings.ICELAB_JOB_MAX_ATTEMPTS:
            _fail_orphan(job)
            failed.append(job.pk)
            continue
        if Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, worker=job.worker).update(
            status=Job.Status.QUEUED,
            step=f"queued again: its worker ({job.worker or 'unknown'}) stopped",
        ):
            requeued.append(job.pk)
    redispatched = []
    for job in Job.objects.filter(status=Job.Status.QUEUED).order_by("created_at"):
        # With a broker, a queued job has its message there, unless sending it failed.
        if job.pk in requeued or not settings.CELERY_BROKER_URL or job.sent_at is None:
            job_dispatch(job=job)
            redispatched.append(job.pk)
    woken = []  # fan-out parents whose last unit's process died before waking them
    for parent_id in parents_to_wake():
        if parent_wake(parent_id):
            job_dispatch(job=Job.objects.get(pk=parent_id))
            woken.append(parent_id)
    return {"requeued": requeued, "failed": failed, "dispatched": redispatched, "woken": woken}
