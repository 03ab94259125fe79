"""The Celery task every job runs through; ``job_dispatch`` picks its queue from the job's kind.

Tasks acknowledge late and are requeued when their worker is lost (settings), so a job
whose worker dies is delivered again; ``job_run`` then takes it over. A delivery that
finds the job running in a live process retries later instead of being dropped, so a
job never waits on a message that no longer exists.
"""

from celery import shared_task
from django.conf import settings

from .models import Job
from .ownership import this_worker
from .services import job_run


def _run(task, job_id: int) -> str:
    job = job_run(job_id)
    if job.status == Job.Status.RUNNING and job.worker != this_worker():
        # Another process has it and looked alive: look again once it may have gone stale.
        raise task.retry(countdown=settings.ICELAB_JOB_STALE_SECONDS, max_retries=None)
    return job.status


@shared_task(name="jobs.run_job", bind=True, acks_late=True, reject_on_worker_lost=True)
def run_job(self, job_id: int) -> str:
    """Run job ``job_id`` (see :func:`jobs.services.job_run`); returns its final status."""
    return _run(self, job_id)


@shared_task(name="explainers.tasks.run_job", bind=True, acks_late=True, reject_on_worker_lost=True)
def run_job_sent_before_the_move(self, job_id: int) -> str:
    """Messages queued before jobs had their own app still name the old task."""
    return _run(self, job_id)
