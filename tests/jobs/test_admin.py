"""The jobs admin: progress and errors shown, failed jobs retried, dead workers' jobs abandoned."""

from django.urls import reverse
from django.utils import timezone

from jobs.models import Job


def test_it_lists_jobs_under_the_jobs_app(admin_client, db):
    assert admin_client.get(reverse("admin:jobs_job_changelist")).status_code == 200


def test_a_failed_job_shows_its_error_and_can_be_retried(admin_client, db):
    job = Job.objects.create(
        kind="ping",
        idempotency_key="k",
        status=Job.Status.FAILED,
        error="Traceback (most recent call last):\nRuntimeError: disk on fire",
        progress=40,
    )
    page = admin_client.get(reverse("admin:jobs_job_change", args=[job.pk])).content.decode()
    assert "RuntimeError: disk on fire" in page
    listing = admin_client.get(reverse("admin:jobs_job_changelist")).content.decode()
    assert '<progress max="100" value="40.0"' in listing
    admin_client.post(
        reverse("admin:jobs_job_changelist"),
        {"action": "retry", "_selected_action": [job.pk]},
    )
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED


def test_a_running_job_can_be_marked_failed(admin_client, db):
    job = Job.objects.create(
        kind="ping", idempotency_key="k", status=Job.Status.RUNNING, started_at=timezone.now()
    )
    admin_client.post(
        reverse("admin:jobs_job_changelist"),
        {"action": "abandon", "_selected_action": [job.pk]},
    )
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and "found its worker gone" in job.error


def test_a_fan_out_shows_its_units_and_links_to_them(admin_client, db):
    parent = Job.objects.create(kind="fit_explainers", idempotency_key="p", status="waiting")
    for n, status in enumerate(["succeeded", "failed", "running"]):
        Job.objects.create(
            kind="fit_explainer", idempotency_key=f"u{n}", parent=parent, status=status
        )
    page = admin_client.get(reverse("admin:jobs_job_change", args=[parent.pk])).content.decode()
    assert "2 of 3 ended, 1 failed" in page
    units = admin_client.get(
        reverse("admin:jobs_job_changelist") + f"?parent__id__exact={parent.pk}"
    ).content.decode()
    assert "3 jobs" in units  # the units, without their parent
    assert reverse("admin:jobs_job_change", args=[parent.pk]) not in units
