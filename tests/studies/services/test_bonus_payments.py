"""The bonus ledger: recorded before sending, paid once, and crashes that never pay twice.

These tests commit for real (``transaction=True``): the ledger's promise is about what is
committed before the platform is called, which a rolled-back test transaction would hide.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from icelab.errors import ServiceError
from studies.integrations.prolific import HttpResponse, ProlificClient
from studies.models import BonusPayment, BonusStatus
from studies.services import bonus_payments
from studies.services.bonus_payments import (
    bonus_pay,
    bonus_payment_record,
    bonus_payment_resolve,
    bonus_payment_send,
    bonus_payment_token,
)
from tests.studies.integrations.doubles import API, STUDY_ID

pytestmark = pytest.mark.django_db(transaction=True)

NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
MTURK = {
    "platform": "mturk",
    "study_key": "study-7",
    "worker_id": "A1WORKER",
    "assignment_id": "3ASSIGN",
    "amount": "1.25",
    "reason": "Test accuracy above 80%",
}
PROLIFIC = {
    "platform": "prolific",
    "study_key": "study-7",
    "worker_id": "5f0c1a2b3c4d5e6f70819201",
    "assignment_id": "64f1a2b3c4d5e6f708192a01",
    "amount": "0.75",
    "reason": "Test accuracy above 80%",
    "platform_study_id": STUDY_ID,
}
SETUP = f"{API}submissions/bonus-payments/"
PAY = f"{API}bulk-bonus-payments/65a0b1c2d3e4f5a6b7c8d9e0/pay/"


def _send_params(token):
    return {
        "WorkerId": "A1WORKER",
        "BonusAmount": "1.25",
        "AssignmentId": "3ASSIGN",
        "Reason": "Test accuracy above 80%",
        "UniqueRequestToken": token,
    }


def _token():
    return bonus_payment_token(
        platform="mturk", study_key="study-7", worker_id="A1WORKER", assignment_id="3ASSIGN"
    )


def _listed(stubber, *workers):
    bonuses = [
        {
            "WorkerId": w,
            "BonusAmount": "1.25",
            "AssignmentId": "3ASSIGN",
            "Reason": "r",
            "GrantTime": NOW,
        }
        for w in workers
    ]
    stubber.add_response(
        "list_bonus_payments",
        {"NumResults": len(bonuses), "BonusPayments": bonuses},
        {"AssignmentId": "3ASSIGN", "MaxResults": 100},
    )


# --- the token and the record ----------------------------------------------------------------


def test_the_token_is_stable_fits_mturk_and_differs_per_assignment():
    token = _token()
    assert token == _token() and len(token) == 64
    other = bonus_payment_token(
        platform="mturk", study_key="study-7", worker_id="A1WORKER", assignment_id="3OTHER"
    )
    assert other != token


def test_recording_twice_returns_the_same_committed_row():
    first = bonus_payment_record(**MTURK)
    again = bonus_payment_record(**MTURK)
    assert again.pk == first.pk and BonusPayment.objects.count() == 1
    assert first.status == BonusStatus.PENDING and first.amount == Decimal("1.25")
    assert first.unique_request_token == _token()


def test_recording_another_amount_for_the_same_assignment_is_refused():
    bonus_payment_record(**MTURK)
    with pytest.raises(ServiceError, match="already has a bonus of 1.25"):
        bonus_payment_record(**MTURK | {"amount": "2.00"})


def test_the_database_refuses_a_second_row_for_a_worker_and_assignment():
    payment = bonus_payment_record(**MTURK)
    with pytest.raises(IntegrityError), transaction.atomic():
        BonusPayment.objects.create(
            platform="mturk",
            study_key="another-study",
            worker_id=payment.worker_id,
            assignment_id=payment.assignment_id,
            amount=Decimal("9.00"),
            reason="again",
            unique_request_token="x" * 64,
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"amount": "0"}, "positive"),
        ({"worker_id": ""}, "worker_id"),
        ({"platform": "x"}, "platform"),
        ({"reason": " "}, "reason is empty"),
        # A PROLIFIC_PID edited to smuggle a second line into Prolific's bonus CSV.
        ({"worker_id": "5f0c01,9.99\n5f0c02"}, "not a platform id"),
        ({"assignment_id": "../3ASSIGN"}, "not a platform id"),
    ],
)
def test_a_bad_bonus_is_refused_before_any_row(change, message):
    with pytest.raises(ServiceError, match=message):
        bonus_payment_record(**MTURK | change)
    assert not BonusPayment.objects.exists()


def test_a_prolific_bonus_needs_the_prolific_study_id():
    with pytest.raises(ServiceError, match="STUDY_ID"):
        bonus_payment_record(**PROLIFIC | {"platform_study_id": ""})


def test_the_ledger_refuses_to_run_inside_a_transaction(mturk_stub):
    client, _ = mturk_stub
    with pytest.raises(ServiceError, match="inside a transaction"), transaction.atomic():
        bonus_pay(**MTURK, client=client)


def test_a_client_of_the_other_platform_is_refused(mturk_stub):
    client, _ = mturk_stub
    payment = bonus_payment_record(**PROLIFIC)
    with pytest.raises(ServiceError, match="ProlificClient"):
        bonus_payment_send(payment=payment, client=client)


# --- MTurk ------------------------------------------------------------------------------------


def test_mturk_pays_once_and_never_sends_a_paid_row_again(mturk_stub):
    client, stubber = mturk_stub
    stubber.add_response("send_bonus", {}, _send_params(_token()))
    payment = bonus_pay(**MTURK, client=client)
    assert payment.status == BonusStatus.PAID and payment.paid_at is not None
    stored = BonusPayment.objects.get()
    assert stored.status == BonusStatus.PAID and stored.attempts == 1
    # Nothing more is queued on the stub: a second send_bonus would fail the test.
    assert bonus_pay(**MTURK, client=client).status == BonusStatus.PAID


def test_the_pending_row_is_committed_before_mturk_is_called(mturk_stub, monkeypatch):
    client, stubber = mturk_stub
    seen = {}

    def send_bonus(**kwargs):
        seen["row"] = BonusPayment.objects.values("status", "sent_at").get()
        seen["token"] = kwargs["unique_request_token"]

    monkeypatch.setattr(client, "send_bonus", send_bonus)
    bonus_pay(**MTURK, client=client)
    assert seen["row"]["status"] == BonusStatus.PENDING and seen["row"]["sent_at"] is not None
    assert seen["token"] == _token()


def test_after_a_crash_that_followed_a_paid_request_it_is_marked_paid_without_resending(
    mturk_stub, monkeypatch
):
    client, stubber = mturk_stub
    stubber.add_response("send_bonus", {}, _send_params(_token()))
    real_mark_paid = bonus_payments._mark_paid
    monkeypatch.setattr(bonus_payments, "_mark_paid", _crash)
    with pytest.raises(SystemExit):  # the process dies after MTurk paid
        bonus_pay(**MTURK, client=client)
    stored = BonusPayment.objects.get()
    assert stored.status == BonusStatus.PENDING and stored.sent_at is not None

    monkeypatch.setattr(bonus_payments, "_mark_paid", real_mark_paid)
    _listed(stubber, "A1WORKER")  # MTurk shows the bonus: no send_bonus is queued
    assert bonus_payment_send(payment=stored, client=client).status == BonusStatus.PAID
    assert BonusPayment.objects.get().attempts == 1


def test_after_an_unanswered_request_it_resends_with_the_same_token(mturk_stub):
    client, stubber = mturk_stub
    stubber.add_client_error(
        "send_bonus",
        service_error_code="ServiceFault",
        service_message="boom",
        http_status_code=500,
    )
    with pytest.raises(ServiceError, match="Send it again"):
        bonus_pay(**MTURK, client=client)
    stored = BonusPayment.objects.get()
    assert stored.status == BonusStatus.PENDING and "boom" in stored.error

    _listed(stubber, "SOMEONE_ELSE")  # not paid to this worker
    stubber.add_response("send_bonus", {}, _send_params(_token()))  # the very same token
    assert bonus_payment_send(payment=stored, client=client).status == BonusStatus.PAID
    assert BonusPayment.objects.get().attempts == 2


def test_a_refusal_is_recorded_and_the_bonus_can_be_sent_later(mturk_stub):
    client, stubber = mturk_stub
    stubber.add_client_error(
        "send_bonus", service_error_code="RequestError", service_message="Insufficient funds"
    )
    _listed(stubber)
    with pytest.raises(ServiceError, match="refused, nothing paid.*Insufficient funds"):
        bonus_pay(**MTURK, client=client)
    stored = BonusPayment.objects.get()
    assert stored.status == BonusStatus.REFUSED and stored.sent_at is None

    stubber.add_response("send_bonus", {}, _send_params(_token()))
    assert bonus_payment_send(payment=stored, client=client).status == BonusStatus.PAID


def test_a_refused_duplicate_token_that_mturk_paid_counts_as_paid(mturk_stub):
    client, stubber = mturk_stub
    stubber.add_client_error(
        "send_bonus",
        service_error_code="RequestError",
        service_message='The idempotency token "..." has already been processed.',
    )
    _listed(stubber, "A1WORKER")
    assert bonus_pay(**MTURK, client=client).status == BonusStatus.PAID


# --- Prolific ---------------------------------------------------------------------------------


@pytest.fixture
def prolific(transport):
    return ProlificClient(token="tok", transport=transport)


def test_prolific_sets_up_then_pays_once(prolific, transport):
    transport.add("POST", SETUP, "bonus_setup.json")
    transport.add("POST", PAY, "bonus_pay.json")
    payment = bonus_pay(**PROLIFIC, client=prolific)
    assert payment.status == BonusStatus.PAID
    assert payment.external_id == "65a0b1c2d3e4f5a6b7c8d9e0"
    assert transport.json_bodies("POST", SETUP) == [
        {"study_id": STUDY_ID, "csv_bonuses": "5f0c1a2b3c4d5e6f70819201,0.75"}
    ]
    assert bonus_pay(**PROLIFIC, client=prolific).status == BonusStatus.PAID  # no request


def test_a_prolific_pay_without_an_answer_is_never_resent_automatically(prolific, transport):
    transport.add("POST", SETUP, "bonus_setup.json")
    transport.add("POST", PAY, HttpResponse(504, b"Gateway Timeout"))
    with pytest.raises(ServiceError, match="may have been paid"):
        bonus_pay(**PROLIFIC, client=prolific)
    stored = BonusPayment.objects.get()
    assert stored.status == BonusStatus.NEEDS_CHECK
    with pytest.raises(ServiceError, match="bonus_payment_resolve"):
        bonus_payment_send(payment=stored, client=prolific)
    assert len(transport.requests) == 2  # set-up and the one pay: nothing after


def test_a_crash_after_the_pay_request_went_out_needs_a_check(prolific, transport):
    def die(request):
        raise SystemExit("the worker process was killed")

    transport.add("POST", SETUP, "bonus_setup.json")
    transport.add("POST", PAY, die)
    with pytest.raises(SystemExit):
        bonus_pay(**PROLIFIC, client=prolific)
    stored = BonusPayment.objects.get()
    assert stored.status == BonusStatus.PENDING and stored.sent_at is not None
    with pytest.raises(ServiceError, match="Check the participant's bonuses on Prolific"):
        bonus_payment_send(payment=stored, client=prolific)
    assert BonusPayment.objects.get().status == BonusStatus.NEEDS_CHECK
    assert len(transport.requests) == 2


def test_a_crash_before_the_pay_request_is_retried_from_the_set_up(prolific, transport):
    transport.add("POST", SETUP, HttpResponse(503, b"unavailable"))
    with pytest.raises(ServiceError, match="did not set it up"):
        bonus_pay(**PROLIFIC, client=prolific)
    stored = BonusPayment.objects.get()
    assert stored.status == BonusStatus.PENDING and stored.sent_at is None
    transport.add("POST", SETUP, "bonus_setup.json")
    transport.add("POST", PAY, "bonus_pay.json")
    assert bonus_payment_send(payment=stored, client=prolific).status == BonusStatus.PAID


def test_a_refused_pay_is_recorded_as_nothing_paid(prolific, transport):
    transport.add("POST", SETUP, "bonus_setup.json")
    transport.add("POST", PAY, "error_400_balance.json", status=400)
    with pytest.raises(ServiceError, match="balance is insufficient"):
        bonus_pay(**PROLIFIC, client=prolific)
    stored = BonusPayment.objects.get()
    assert stored.status == BonusStatus.REFUSED and stored.sent_at is None


def test_a_researchers_check_settles_an_unknown_outcome(prolific, transport):
    transport.add("POST", SETUP, "bonus_setup.json")
    transport.add("POST", PAY, HttpResponse(500, b"oops"))
    with pytest.raises(ServiceError):
        bonus_pay(**PROLIFIC, client=prolific)
    payment = BonusPayment.objects.get()

    resolved = bonus_payment_resolve(payment=payment, paid=False, note="no bonus on Prolific")
    assert resolved.status == BonusStatus.REFUSED and resolved.sent_at is None
    transport.add("POST", SETUP, "bonus_setup.json")
    transport.add("POST", PAY, "bonus_pay.json")
    assert bonus_payment_send(payment=payment, client=prolific).status == BonusStatus.PAID
    with pytest.raises(ServiceError, match="not waiting for a check"):
        bonus_payment_resolve(payment=payment, paid=True)


def test_a_check_that_finds_the_bonus_paid_marks_it_paid(prolific, transport):
    transport.add("POST", SETUP, "bonus_setup.json")
    transport.add("POST", PAY, HttpResponse(500, b"oops"))
    with pytest.raises(ServiceError):
        bonus_pay(**PROLIFIC, client=prolific)
    resolved = bonus_payment_resolve(payment=BonusPayment.objects.get(), paid=True)
    assert resolved.status == BonusStatus.PAID and resolved.paid_at is not None


def test_of_two_senders_only_the_one_that_claims_the_row_pays(prolific, transport):
    def setup_while_another_process_claims(request):
        # Between our set-up and our claim, another process claims the row and pays.
        BonusPayment.objects.update(sent_at=NOW)
        return HttpResponse(200, b'{"id": "65a0b1c2d3e4f5a6b7c8d9e0"}')

    transport.add("POST", SETUP, setup_while_another_process_claims)
    with pytest.raises(ServiceError, match="another process"):
        bonus_pay(**PROLIFIC, client=prolific)
    assert [r.url for r in transport.requests] == [SETUP]  # no pay request from us


def _crash(row):
    raise SystemExit("the worker process was killed")
