"""Redis down: a submitted job waits, queued, and says why in the admin; it is sent once Redis is back.

(Participants are still served meanwhile: tests/studies/test_faults.py.) ``broker_down``
is in tests/conftest.py.
"""

from __future__ import annotations

from django.urls import reverse

from jobs import services as jobs
from jobs.models import Job


def test_a_submitted_job_stays_queued_and_says_so_in_the_admin(
    broker_down, admin_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.job_submit(kind="ping", params={"tag": "no broker"})  # does not raise
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED and job.sent_at is None
    assert job.step.startswith("waiting: the job broker (CELERY_BROKER_URL) cannot be reached")
    assert "start Redis, then Retry this job" in job.step
    page = admin_client.get(reverse("admin:jobs_job_changelist")).content.decode()
    assert "the job broker (CELERY_BROKER_URL) cannot be reached" in page


def test_once_the_broker_is_back_recovery_sends_only_the_unsent_jobs(
    db, broker_down, monkeypatch, django_capture_on_commit_callbacks
):
    from jobs import tasks

    with django_capture_on_commit_callbacks(execute=True):
        unsent = jobs.job_submit(kind="ping", params={"tag": "unsent"})
    sent_earlier = Job.objects.create(
        kind="ping", idempotency_key="sent", sent_at=unsent.created_at
    )  # its message is in the broker: sending it again would only duplicate it
    sent = []
    monkeypatch.setattr(tasks.run_job, "apply_async", lambda args, queue: sent.append(args[0]))
    assert jobs.job_recover()["dispatched"] == [unsent.pk] == sent
    unsent.refresh_from_db()
    assert unsent.sent_at is not None and sent_earlier.pk not in sent
