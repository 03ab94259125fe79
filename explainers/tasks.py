"""Celery tasks. Every job runs through ``run_job``; ``job_submit`` picks the queue
(``gpu`` for torch work, the default queue otherwise)."""

from celery import shared_task

from .jobs import job_run


@shared_task(name="explainers.tasks.run_job")
def run_job(job_id: int) -> str:
    """Run job ``job_id`` (see :func:`explainers.jobs.job_run`); returns its final status."""
    return job_run(job_id).status
