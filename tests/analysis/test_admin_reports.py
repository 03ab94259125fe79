"""The study admin's Build report action and reports page; stored reports are staff-only."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from analysis.services import study_report_build
from jobs.models import Job


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_superuser("admin", "a@example.com", "pw")
    client.force_login(user)
    return client


def test_the_action_submits_one_report_job_per_study(
    staff_client, taken_study, media_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        reply = staff_client.post(
            reverse("admin:studies_study_changelist"),
            {"action": "build_report", "_selected_action": [taken_study.pk]},
            follow=True,
        )
    job = Job.objects.get()
    assert (job.kind, job.params) == ("study_report", {"study": taken_study.pk})
    assert f"report job {job.pk} queued" in reply.content.decode()


def test_the_action_explains_why_a_study_without_participants_has_no_report(
    staff_client, make_study, media_root
):
    study = make_study(slug="nobody")
    reply = staff_client.post(
        reverse("admin:studies_study_changelist"),
        {"action": "build_report", "_selected_action": [study.pk]},
        follow=True,
    )
    assert "no participants yet" in reply.content.decode()
    assert not Job.objects.exists()


def test_the_page_lists_reports_with_download_links_and_jobs(
    staff_client, taken_study, media_root, django_capture_on_commit_callbacks
):
    report = study_report_build(study=taken_study)
    with django_capture_on_commit_callbacks(execute=False):
        staff_client.post(reverse("admin:studies_study_reports", args=[taken_study.pk]))
    page = staff_client.get(reverse("admin:studies_study_reports", args=[taken_study.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert f'href="/media/{report.files["report.html"]}"' in html
    assert "data so far" in html
    assert "<progress" in html and 'http-equiv="refresh"' in html  # the queued job
    download = staff_client.get(f"/media/{report.files['participants.csv']}")
    assert download.status_code == 200
    assert b"".join(download.streaming_content).startswith(b"participant,")


def test_reports_are_not_served_to_anonymous_or_non_staff_users(client, taken_study, media_root):
    report = study_report_build(study=taken_study)
    url = f"/media/{report.files['report.html']}"
    assert client.get(url).status_code == 404
    user = get_user_model().objects.create_user("participant", "p@example.com", "pw")
    client.force_login(user)
    assert client.get(url).status_code == 404
    page = client.get(reverse("admin:studies_study_reports", args=[taken_study.pk]))
    assert page.status_code == 302  # to the admin login


def test_the_study_list_links_to_the_reports_page(staff_client, taken_study):
    html = staff_client.get(reverse("admin:studies_study_changelist")).content.decode()
    assert reverse("admin:studies_study_reports", args=[taken_study.pk]) in html
