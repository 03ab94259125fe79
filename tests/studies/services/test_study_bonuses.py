"""Paying a study's bonuses: who earns one, and nobody paid twice across runs or crashes.

MTurk is botocore's Stubber and Prolific a queue of recorded responses: any request a test
did not queue fails it, so "nothing was sent again" is checked, not assumed. The tests
commit for real (``transaction=True``), like the ledger's own: its promise is about what
is committed before a platform is called.
"""

from __future__ import annotations

import datetime as dt

import pytest

from jobs import services as jobs
from jobs.models import Job
from studies.integrations.prolific import HttpResponse, ProlificClient
from studies.models import BonusPayment, BonusStatus
from studies.services import study_bonuses
from studies.services.bonus_payments import bonus_payment_resolve, bonus_payment_token
from studies.services.study_bonuses import meets_bonus_rule, study_bonuses_due, study_bonuses_pay
from tests.studies.integrations.doubles import API, STUDY_ID

from .conftest import enter, finish

pytestmark = pytest.mark.django_db(transaction=True)

NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
REASON = "Accurate answers: thank you!"
RULE = {"min_accuracy": 0.6, "amount": "0.50", "reason": REASON}
PID = "5f0c1a2b3c4d5e6f70819201"
SESSION = "64f1a2b3c4d5e6f708192a01"
SETUP = f"{API}submissions/bonus-payments/"
PAY = f"{API}bulk-bonus-payments/65a0b1c2d3e4f5a6b7c8d9e0/pay/"


@pytest.mark.parametrize(
    ("correct", "total", "min_accuracy", "earns"),
    [
        (2, 3, 0.6, True),  # 0.667 >= 0.6
        (1, 3, 0.34, False),  # 0.333 < 0.34
        (4, 5, 0.8, True),  # exactly at the rule: earns
        (3, 15, 0.2, True),  # 0.2 in floating point is not 3/15 by a hair: still earns
        (7, 10, 0.71, False),
        (0, 0, 0.0, False),  # no test answers, no bonus
    ],
)
def test_the_bonus_rule_by_hand(correct, total, min_accuracy, earns):
    assert meets_bonus_rule(correct=correct, total=total, min_accuracy=min_accuracy) is earns


@pytest.fixture
def study(make_study):
    return make_study(
        platforms=["mturk", "prolific"],
        bonus_rule=RULE,
        platform_settings={"prolific_study_id": STUDY_ID},
    )


@pytest.fixture
def crowd(study):
    """W1 (3/3) and the Prolific person (2/3) earn; W2 (1/3), W3 (excluded), W4 (started) do not."""
    earner = finish(enter(study, platform="mturk", person="W1", attempt="A1"), [True] * 3)
    finish(enter(study, platform="mturk", person="W2", attempt="A2"), [True, False, False])
    finish(enter(study, platform="mturk", person="W3", attempt="A3"), [True] * 3, status="excluded")
    enter(study, platform="mturk", person="W4", attempt="A4")
    prolific = finish(
        enter(study, platform="prolific", person=PID, attempt=SESSION, platform_study_id=STUDY_ID),
        [True, True, False],
    )
    return {"mturk": earner, "prolific": prolific}


def _send_bonus(stubber, study):
    token = bonus_payment_token(
        platform="mturk", study_key=f"study-{study.pk}", worker_id="W1", assignment_id="A1"
    )
    return {
        "WorkerId": "W1",
        "BonusAmount": "0.50",
        "AssignmentId": "A1",
        "Reason": REASON,
        "UniqueRequestToken": token,
    }


def test_it_finds_who_earned_the_bonus(study, crowd):
    due = study_bonuses_due(study=study)
    assert [(d.participant.external_id, str(d.amount), round(d.accuracy, 3)) for d in due] == [
        ("W1", "0.50", 1.0),
        (PID, "0.50", 0.667),
    ]


def test_everyone_is_paid_once_across_two_runs(study, crowd, mturk_stub, transport):
    mturk, stubber = mturk_stub
    prolific = ProlificClient(token="t0k", transport=transport)
    stubber.add_response("send_bonus", {}, _send_bonus(stubber, study))
    transport.add("POST", SETUP, "bonus_setup.json")
    transport.add("POST", PAY, "bonus_pay.json")

    first = study_bonuses_pay(study=study, mturk=mturk, prolific=prolific)
    assert first["due"] == 2 and len(first["paid"]) == 2 and first["errors"] == []
    assert transport.json_bodies("POST", SETUP) == [
        {"study_id": STUDY_ID, "csv_bonuses": f"{PID},0.50"}
    ]
    rows = BonusPayment.objects.order_by("platform")
    assert [(r.platform, r.worker_id, r.status, r.participant_id) for r in rows] == [
        ("mturk", "W1", BonusStatus.PAID, crowd["mturk"].pk),
        ("prolific", PID, BonusStatus.PAID, crowd["prolific"].pk),
    ]

    # Nothing is queued on either double: any request now would fail the test.
    second = study_bonuses_pay(study=study, mturk=mturk, prolific=prolific)
    assert second == {"due": 2, "paid": [], "already_paid": 2, "needs_check": [], "errors": []}
    assert BonusPayment.objects.count() == 2


def test_a_crash_between_record_and_send_pays_once_on_the_next_run(
    study, crowd, mturk_stub, monkeypatch
):
    mturk, stubber = mturk_stub

    def crash(**kwargs):
        raise RuntimeError("the worker process died")

    monkeypatch.setattr(study_bonuses, "bonus_payment_send", crash)
    with pytest.raises(RuntimeError):
        study_bonuses_pay(study=study, mturk=mturk)
    row = BonusPayment.objects.get(platform="mturk")
    assert row.status == BonusStatus.PENDING and row.sent_at is None  # recorded, never sent
    monkeypatch.undo()

    # Only MTurk is paid in this test: the Prolific row's client has no token, so it errs.
    stubber.add_response("send_bonus", {}, _send_bonus(stubber, study))
    result = study_bonuses_pay(study=study, mturk=mturk)
    assert result["paid"] == [row.pk] and len(result["errors"]) == 1
    assert "PROLIFIC_API_TOKEN" in result["errors"][0]
    assert BonusPayment.objects.get(pk=row.pk).status == BonusStatus.PAID


def test_a_lost_answer_is_looked_up_on_mturk_and_not_sent_again(
    study, crowd, mturk_stub, transport
):
    mturk, stubber = mturk_stub
    prolific = ProlificClient(token="t0k", transport=transport)
    transport.add("POST", SETUP, "bonus_setup.json")
    transport.add("POST", PAY, "bonus_pay.json")
    params = _send_bonus(stubber, study)
    stubber.add_client_error(
        "send_bonus",
        service_error_code="ServiceFault",
        service_message="busy",
        http_status_code=500,
    )
    first = study_bonuses_pay(study=study, mturk=mturk, prolific=prolific)
    row = BonusPayment.objects.get(platform="mturk")
    assert row.status == BonusStatus.PENDING and row.sent_at is not None
    assert any("no answer from MTurk" in e for e in first["errors"])

    # MTurk did pay it: the next run finds it in the list of bonuses and sends nothing.
    stubber.add_response(
        "list_bonus_payments",
        {
            "NumResults": 1,
            "BonusPayments": [
                {
                    "WorkerId": "W1",
                    "BonusAmount": "0.50",
                    "AssignmentId": "A1",
                    "Reason": params["Reason"],
                    "GrantTime": NOW,
                }
            ],
        },
        {"AssignmentId": "A1", "MaxResults": 100},
    )
    second = study_bonuses_pay(study=study, mturk=mturk, prolific=prolific)
    assert second["paid"] == [row.pk] and second["already_paid"] == 1
    assert BonusPayment.objects.get(pk=row.pk).status == BonusStatus.PAID


def test_a_prolific_bonus_needing_a_check_is_never_resent_automatically(
    study, crowd, mturk_stub, transport
):
    mturk, stubber = mturk_stub
    prolific = ProlificClient(token="t0k", transport=transport)
    stubber.add_response("send_bonus", {}, _send_bonus(stubber, study))
    transport.add("POST", SETUP, "bonus_setup.json")
    transport.add("POST", PAY, HttpResponse(504, b"Gateway Timeout"))
    first = study_bonuses_pay(study=study, mturk=mturk, prolific=prolific)
    row = BonusPayment.objects.get(platform="prolific")
    assert row.status == BonusStatus.NEEDS_CHECK and first["needs_check"] == [row.pk]

    # Two more runs: no request reaches Prolific (none is queued), the row is reported.
    for _ in range(2):
        again = study_bonuses_pay(study=study, mturk=mturk, prolific=prolific)
        assert again["needs_check"] == [row.pk] and again["paid"] == []
    assert len(transport.requests) == 2

    # The researcher finds it unpaid on Prolific: the next run sends it again, once.
    bonus_payment_resolve(payment=row, paid=False, note="not on Prolific")
    transport.add("POST", SETUP, "bonus_setup.json")
    transport.add("POST", PAY, "bonus_pay.json")
    assert study_bonuses_pay(study=study, mturk=mturk, prolific=prolific)["paid"] == [row.pk]


def test_the_pay_bonuses_job_fails_while_a_bonus_needs_a_check(
    study, crowd, mturk_stub, transport, monkeypatch
):
    mturk, stubber = mturk_stub
    prolific = ProlificClient(token="t0k", transport=transport)
    monkeypatch.setattr(jobs, "job_dispatch", lambda *, job: None)
    monkeypatch.setattr(study_bonuses.MTurkClient, "from_settings", lambda: mturk)
    monkeypatch.setattr(study_bonuses.ProlificClient, "from_settings", lambda: prolific)
    stubber.add_response("send_bonus", {}, _send_bonus(stubber, study))
    transport.add("POST", SETUP, "bonus_setup.json")
    transport.add("POST", PAY, HttpResponse(504, b"Gateway Timeout"))
    job = jobs.job_run(jobs.job_submit(kind="pay_bonuses", params={"study": study.pk}).pk)
    assert job.status == Job.Status.FAILED
    assert "need a check on Prolific" in job.step or "need a check on Prolific" in job.error
    assert BonusPayment.objects.get(platform="mturk").status == BonusStatus.PAID


def test_a_rule_without_a_usable_amount_names_the_fix(make_study):
    from django.core.exceptions import ValidationError

    study = make_study(platforms=["mturk"], bonus_rule={"min_accuracy": 0.5, "amount": "lots"})
    finish(enter(study, platform="mturk", person="W1", attempt="A1"), [True])
    with pytest.raises(ValidationError, match="'0.50'"):
        study_bonuses_due(study=study)
