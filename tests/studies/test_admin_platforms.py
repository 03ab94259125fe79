"""The platform actions of the studies admin: jobs queued, HITs refused clearly, the ledger read-only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from jobs import services as jobs
from jobs.models import Job
from studies.models import BonusPayment, BonusStatus

CHANGELIST = "/admin/studies/study/"


@pytest.fixture
def staff_client(client, db):
    client.force_login(User.objects.create_superuser("admin", "a@example.org", "pw-not-secret"))
    return client


@pytest.fixture
def no_dispatch(monkeypatch):
    monkeypatch.setattr(jobs, "job_dispatch", lambda *, job: None)


@pytest.mark.parametrize("action", ["prolific_sync", "pay_bonuses", "mturk_approve"])
def test_long_platform_work_is_queued_as_a_job_once(staff_client, study, no_dispatch, action):
    for _ in range(2):  # a second click while it is queued returns the same job
        response = staff_client.post(
            CHANGELIST, {"action": action, "_selected_action": [study.pk]}, follow=True
        )
        assert response.status_code == 200
    job = Job.objects.get()
    assert (job.kind, job.params) == (action, {"study": study.pk})
    assert f"job #{job.pk}" in response.content.decode()


def test_creating_a_hit_over_http_is_refused_with_the_fix(staff_client, make_study, settings):
    settings.ICELAB_PUBLIC_URL = "http://icelab.example.org"
    study = make_study(
        platforms=["mturk"],
        platform_settings={"mturk_qualification_type_id": "3QUAL", "mturk_hit": {"reward": "1"}},
    )
    response = staff_client.post(
        CHANGELIST, {"action": "mturk_create_hit", "_selected_action": [study.pk]}, follow=True
    )
    assert "is not https://" in response.content.decode()


def _row(status, worker="W1"):
    return BonusPayment.objects.create(
        platform="prolific",
        study_key="study-1",
        platform_study_id="S1",
        worker_id=worker,
        assignment_id=f"{worker}A",
        amount="0.50",
        reason="thanks",
        unique_request_token=f"token-{worker}",
        status=status,
    )


def test_the_ledger_is_listed_read_only(staff_client):
    row = _row(BonusStatus.NEEDS_CHECK)
    listing = staff_client.get("/admin/studies/bonuspayment/")
    assert listing.status_code == 200 and "W1A" in listing.content.decode()
    assert staff_client.get("/admin/studies/bonuspayment/add/").status_code == 403
    staff_client.post(f"/admin/studies/bonuspayment/{row.pk}/change/", {"amount": "9.00"})
    staff_client.post(f"/admin/studies/bonuspayment/{row.pk}/delete/", {"post": "yes"})
    row.refresh_from_db()
    assert str(row.amount) == "0.50"


@pytest.mark.django_db(transaction=True)
def test_needs_check_rows_are_resolved_through_the_service(client):
    client.force_login(User.objects.create_superuser("admin", "a@example.org", "pw-not-secret"))
    unknown, paid, other = (
        _row(BonusStatus.NEEDS_CHECK, "W1"),
        _row(BonusStatus.PENDING, "W2"),
        _row(BonusStatus.NEEDS_CHECK, "W3"),
    )
    response = client.post(
        "/admin/studies/bonuspayment/",
        {"action": "resolve_not_paid", "_selected_action": [unknown.pk, paid.pk]},
        follow=True,
    )
    assert "only rows needing a check" in response.content.decode()
    client.post(
        "/admin/studies/bonuspayment/",
        {"action": "resolve_paid", "_selected_action": [other.pk]},
    )
    statuses = dict(BonusPayment.objects.values_list("worker_id", "status"))
    assert statuses == {"W1": "refused", "W2": "pending", "W3": "paid"}
    assert "admin" in BonusPayment.objects.get(worker_id="W1").error
