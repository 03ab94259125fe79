"""Background jobs: fitting, sweeping and building run outside web requests, with progress.

``job_submit`` records a :class:`~explainers.models.Job` and hands it, once the
transaction commits, to Celery when ``CELERY_BROKER_URL`` is set (torch work on the
``gpu`` queue) or otherwise to a local worker thread in this process — either way the
request that submitted it returns at once. ``job_run`` does the work wherever it runs:
it claims the job (so two deliveries never run it twice at the same time), writes
progress to the database as it goes, and records the result or the error with its
traceback. A failed job can be retried; the services it calls are idempotent, so
re-running finished work is cheap.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, transaction
from django.db.models import F
from django.utils import timezone

from .models import FidelitySweep, Job, Scenario, StimulusSet
from .services.progress import Progress

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Progress], dict[str, Any]]
DEFAULT_QUEUE = "celery"


@dataclass(frozen=True)
class JobKind:
    handler: Handler
    torch: bool  # torch work goes to the gpu queue


def _gpu_queue() -> str:
    return settings.CELERY_TASK_ROUTES.get("explainers.tasks.*", {}).get("queue", "gpu")


# ----------------------------------------------------------------------------- handlers


def _ping(params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """A job that does nothing but prove a worker runs jobs (used by health checks and tests)."""
    time.sleep(float(params.get("sleep", 0)))
    progress(1.0, "pong")
    return {"pong": True, "pid": os.getpid()}


def _fit_explainers(params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from .services import explainer_runs_fit

    runs = explainer_runs_fit(
        scenario=Scenario.objects.get(pk=params["scenario"]),
        reducer=params["reducer"],
        n_components=int(params.get("n_components", 10)),
        classes=params.get("classes"),
        seed=int(params.get("seed", 0)),
        progress=progress,
    )
    return {"runs": [run.pk for run in runs]}


def _fidelity_sweep(params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from .services import fidelity_sweep_run
    from .services.fidelity import DEFAULT_N_COMPONENTS

    sweep: FidelitySweep = fidelity_sweep_run(
        scenario=Scenario.objects.get(pk=params["scenario"]),
        reducers=tuple(params.get("reducers", ("nmf", "pca", "kmeans"))),
        n_components=tuple(params.get("n_components", DEFAULT_N_COMPONENTS)),
        classes=params.get("classes"),
        seed=int(params.get("seed", 0)),
        progress=progress,
    )
    return {"fidelity_sweep": sweep.pk}


def _build_stimulus_set(params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from .services import stimulus_set_build

    options = {
        k: int(params[k])
        for k in ("seed", "n_classes", "n_training", "n_components", "explainer_seed")
        if k in params
    }
    stimulus_set: StimulusSet = stimulus_set_build(
        scenario=Scenario.objects.get(pk=params["scenario"]),
        reducer=params["reducer"],
        progress=progress,
        **options,
    )
    return {"stimulus_set": stimulus_set.pk, "trials": stimulus_set.trials.count()}


JOB_KINDS: dict[str, JobKind] = {
    "ping": JobKind(_ping, torch=False),
    "fit_explainers": JobKind(_fit_explainers, torch=True),
    "fidelity_sweep": JobKind(_fidelity_sweep, torch=True),
    "build_stimulus_set": JobKind(_build_stimulus_set, torch=True),
}


# ----------------------------------------------------------------------------- submitting


def idempotency_key(kind: str, params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps([kind, params], sort_keys=True).encode()).hexdigest()


def job_submit(*, kind: str, params: dict[str, Any]) -> Job:
    """Queue ``kind`` with ``params``; the same work already queued or running is returned instead."""
    if kind not in JOB_KINDS:
        raise ValidationError(
            f"job kind {kind!r} is unknown; use one of {', '.join(sorted(JOB_KINDS))}."
        )
    try:
        params = json.loads(json.dumps(params))
    except (TypeError, ValueError) as error:
        raise ValidationError(f"job params must be JSON: {error}") from error
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
                    status=Job.Status.QUEUED,
                    progress=0,
                    step="queued for retry",
                )
        except IntegrityError:  # the same work was resubmitted meanwhile
            return Job.objects.get(idempotency_key=job.idempotency_key, status__in=Job.ACTIVE)
        job.refresh_from_db()
        if not updated:
            raise ValidationError(
                f"job {job.pk} is {job.status}; only failed or queued jobs can be retried."
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
        raise ValidationError(
            f"job {job.pk} is {job.status}; only running jobs can be marked as failed."
        )
    return job


def job_dispatch(*, job: Job) -> None:
    """Hand the job to Celery (a broker is configured) or to this process's local worker."""
    if settings.CELERY_BROKER_URL:
        from .tasks import run_job

        queue_name = _gpu_queue() if JOB_KINDS[job.kind].torch else DEFAULT_QUEUE
        run_job.apply_async(args=[job.pk], queue=queue_name)
    else:
        local_worker().enqueue(job.pk)


# ----------------------------------------------------------------------------- running


class JobProgress:
    """Writes ``progress(fraction, step)`` to the job's row, at most every ``interval`` seconds."""

    def __init__(self, job_id: int, interval: float = 0.5) -> None:
        self.job_id = job_id
        self.interval = interval
        self._last = float("-inf")

    def __call__(self, fraction: float, step: str) -> None:
        now = time.monotonic()
        if now - self._last < self.interval and fraction < 1.0:
            return
        self._last = now
        percent = round(100.0 * min(max(float(fraction), 0.0), 1.0), 1)
        Job.objects.filter(pk=self.job_id).update(progress=percent, step=step[:300])


def job_run(job_id: int) -> Job:
    """Run a queued job and record its outcome; anything else (running, done, failed) is left alone."""
    claimed = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING,
        attempts=F("attempts") + 1,
        started_at=timezone.now(),
        finished_at=None,
        error="",
        progress=0,
        step="starting",
    )
    job = Job.objects.get(pk=job_id)
    if not claimed:
        return job
    try:
        kind = JOB_KINDS.get(job.kind)
        if kind is None:
            raise ValidationError(f"job kind {job.kind!r} is unknown to this worker.")
        result = kind.handler(job.params, JobProgress(job.pk))
    except Exception as error:
        logger.warning("job %s failed: %s", job.pk, error)
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.FAILED,
            error=traceback.format_exc(),
            finished_at=timezone.now(),
            step=_summary(error)[:300],
        )
    else:
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.SUCCEEDED,
            progress=100,
            step="done",
            result=result,
            finished_at=timezone.now(),
        )
    job.refresh_from_db()
    return job


def _summary(error: BaseException) -> str:
    if isinstance(error, ValidationError):
        return "failed: " + "; ".join(error.messages)
    return f"failed: {type(error).__name__}: {error}"


# ----------------------------------------------------------------------------- local worker


class LocalWorker:
    """One daemon thread that runs jobs in submission order, for the embedded (no broker) default."""

    def __init__(self) -> None:
        self._queue: queue.Queue[int] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def enqueue(self, job_id: int) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="icelab-jobs", daemon=True)
                self._thread.start()
        self._queue.put(job_id)

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until every queued job has run (True) or ``timeout`` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _loop(self) -> None:
        while True:
            job_id = self._queue.get()
            try:
                job_run(job_id)
            except Exception:  # a database error must not kill the worker thread
                logger.exception("local worker could not run job %s", job_id)
            finally:
                connections.close_all()
                self._queue.task_done()


_WORKER = LocalWorker()


def local_worker() -> LocalWorker:
    return _WORKER
