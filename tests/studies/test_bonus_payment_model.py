"""The bonus ledger's invariants hold in the database, whatever code writes the rows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from studies.models import BonusPayment, BonusStatus

pytestmark = pytest.mark.django_db


def _row(**overrides):
    fields = {
        "platform": "mturk",
        "study_key": "study-7",
        "worker_id": "A1WORKER",
        "assignment_id": "3ASSIGN",
        "amount": Decimal("1.00"),
        "reason": "r",
        "unique_request_token": "a" * 64,
    }
    return BonusPayment.objects.create(**fields | overrides)


def _refused(**overrides):
    with pytest.raises(IntegrityError), transaction.atomic():
        _row(**overrides)


def test_a_valid_row_is_stored_pending():
    assert _row().status == BonusStatus.PENDING


def test_the_same_worker_and_assignment_cannot_be_bonused_twice():
    _row()
    _refused(unique_request_token="b" * 64, study_key="other")
    # The same ids on the other platform are another person.
    assert _row(platform="prolific", unique_request_token="c" * 64).pk


def test_a_token_is_used_once():
    _row()
    _refused(assignment_id="3OTHER")


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-1.00")])
def test_an_amount_must_be_positive(amount):
    _refused(amount=amount)


def test_paid_rows_and_only_paid_rows_have_a_payment_time():
    _refused(status=BonusStatus.PAID)
    _refused(status=BonusStatus.PENDING, paid_at=timezone.now())
    assert _row(status=BonusStatus.PAID, paid_at=timezone.now()).pk


def test_an_unknown_status_is_refused():
    _refused(status="lost")
