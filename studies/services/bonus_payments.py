"""The bonus ledger's writes: record a bonus, send it at most once, settle an unknown outcome.

The rules, in order (docs/platforms.md "Bonuses" explains them to researchers):

1. :func:`bonus_payment_record` commits a PENDING row, with a token derived from study,
   worker and assignment, before anything is sent. The database allows one row per
   (platform, worker, assignment), so no assignment is bonused twice.
2. Before each payment request, ``sent_at`` is committed. A row with ``sent_at`` set that
   is not PAID may have been paid: the request went out and its answer was lost.
3. A PAID row is never sent again.
4. MTurk: a row that may have been paid is first looked for in MTurk's list of bonuses
   on the assignment; if it is not there it is sent again with the same token. MTurk pays
   a token once (for 24 hours; the look-up covers later retries).
5. Prolific: "pay" is not idempotent and takes no token, so a row that may have been
   paid is never sent again automatically. It becomes NEEDS_CHECK; a researcher looks at
   the participant's bonuses on Prolific and records the answer with
   :func:`bonus_payment_resolve` (paid, or not paid, which allows a new attempt).

These services commit as they go and refuse to run inside a transaction: a PENDING row
rolled back with the caller's transaction would leave a payment with no trace.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from icelab.errors import ServiceError

from ..integrations.base import PlatformError, money
from ..integrations.mturk import MTurkClient
from ..integrations.prolific import ProlificClient
from ..models import BonusPayment, BonusStatus, Participant, PaymentPlatform

PlatformClient = MTurkClient | ProlificClient
# MTurk's and Prolific's worker and assignment/submission ids are letters and digits. The
# ids come from URL parameters a participant can edit: nothing else reaches a payment.
_PLATFORM_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")


def bonus_payment_token(
    *, platform: str, study_key: str, worker_id: str, assignment_id: str
) -> str:
    """The UniqueRequestToken of a bonus: the same on every retry, 64 hex characters."""
    text = "\x1f".join(("icelab-bonus", platform, study_key, worker_id, assignment_id))
    return hashlib.sha256(text.encode()).hexdigest()


def bonus_payment_record(
    *,
    platform: str,
    study_key: str,
    worker_id: str,
    assignment_id: str,
    amount: Decimal | str,
    reason: str,
    platform_study_id: str = "",
    participant: Participant | None = None,
) -> BonusPayment:
    """The ledger row of this bonus, created PENDING (and committed) if there is none.

    Recording the same bonus again returns the existing row. Raises ServiceError when the
    worker's assignment already has a bonus with another amount or for another study.
    ``participant`` links the row to the participant who earned it (shown in the admin).
    """
    _refuse_inside_transaction("bonus_payment_record")
    amount = _checked_bonus(
        platform=platform,
        study_key=study_key,
        worker_id=worker_id,
        assignment_id=assignment_id,
        amount=amount,
        reason=reason,
        platform_study_id=platform_study_id,
    )
    key = {"platform": platform, "worker_id": worker_id, "assignment_id": assignment_id}
    defaults = {
        "study_key": study_key,
        "platform_study_id": platform_study_id,
        "amount": amount,
        "reason": reason,
        "participant": participant,
        "unique_request_token": bonus_payment_token(
            platform=platform, study_key=study_key, worker_id=worker_id, assignment_id=assignment_id
        ),
    }
    try:
        with transaction.atomic():
            payment, _ = BonusPayment.objects.get_or_create(**key, defaults=defaults)
    except IntegrityError:  # a concurrent call created it first
        payment = BonusPayment.objects.get(**key)
    if payment.amount != amount or payment.study_key != study_key:
        raise ServiceError(
            f"worker {worker_id} already has a bonus of {payment.amount} recorded for "
            f"assignment {assignment_id} (study {payment.study_key!r}); an assignment is "
            "bonused once."
        )
    return payment


def bonus_payment_send(*, payment: BonusPayment, client: PlatformClient) -> BonusPayment:
    """Send ``payment`` unless it is paid; returns the row as it now stands.

    Raises ServiceError when the platform refused (status REFUSED: nothing paid, the row
    may be sent again later), when the outcome is unknown (MTurk: still PENDING, sending
    again is safe; Prolific: NEEDS_CHECK), or when a Prolific row needs a manual check.
    """
    _refuse_inside_transaction("bonus_payment_send")
    expected = MTurkClient if payment.platform == PaymentPlatform.MTURK else ProlificClient
    if not isinstance(client, expected):
        raise ServiceError(
            f"bonus {payment.pk} is on {payment.get_platform_display()}; pass a {expected.__name__}."
        )
    if payment.platform == PaymentPlatform.MTURK:
        return _send_mturk(payment, client)
    return _send_prolific(payment, client)


def bonus_pay(
    *,
    platform: str,
    study_key: str,
    worker_id: str,
    assignment_id: str,
    amount: Decimal | str,
    reason: str,
    client: PlatformClient,
    platform_study_id: str = "",
) -> BonusPayment:
    """Record a bonus (if new) and send it (if not paid): what a caller usually wants."""
    payment = bonus_payment_record(
        platform=platform,
        study_key=study_key,
        worker_id=worker_id,
        assignment_id=assignment_id,
        amount=amount,
        reason=reason,
        platform_study_id=platform_study_id,
    )
    return bonus_payment_send(payment=payment, client=client)


def bonus_payment_resolve(*, payment: BonusPayment, paid: bool, note: str = "") -> BonusPayment:
    """Record what a researcher found on the platform for a NEEDS_CHECK bonus.

    ``paid=True`` marks it PAID; ``paid=False`` marks it REFUSED (nothing paid), after
    which :func:`bonus_payment_send` may send it again.
    """
    _refuse_inside_transaction("bonus_payment_resolve")
    with transaction.atomic():
        row = BonusPayment.objects.select_for_update().get(pk=payment.pk)
        if row.status != BonusStatus.NEEDS_CHECK:
            raise ServiceError(
                f"bonus {row.pk} is {row.get_status_display()!r}, not waiting for a check; "
                "only a bonus whose outcome is unknown is resolved by hand."
            )
        if paid:
            _update(row, status=BonusStatus.PAID, paid_at=timezone.now(), error=note)
        else:
            _update(row, status=BonusStatus.REFUSED, sent_at=None, error=note or "not paid")
    return row


# --- MTurk ------------------------------------------------------------------------------


def _send_mturk(payment: BonusPayment, client: MTurkClient) -> BonusPayment:
    row = BonusPayment.objects.get(pk=payment.pk)
    if row.status == BonusStatus.PAID:
        return row
    if row.sent_at is not None and _mturk_shows_paid(row, client):
        return _mark_paid(row)
    _mark_sent(row)
    try:
        client.send_bonus(
            worker_id=row.worker_id,
            assignment_id=row.assignment_id,
            amount=row.amount,
            reason=row.reason,
            unique_request_token=row.unique_request_token,
        )
    except PlatformError as error:
        if error.acted is False:
            # A refusal may be MTurk declining a token it already paid: look before saying so.
            if _mturk_shows_paid(row, client):
                return _mark_paid(row)
            _update(row, status=BonusStatus.REFUSED, sent_at=None, error=str(error))
            raise ServiceError(f"{_describe(row)} was refused, nothing paid: {error}") from error
        _update(row, error=str(error))
        raise ServiceError(
            f"{_describe(row)}: no answer from MTurk ({error}). Send it again: the same token "
            "makes MTurk pay it once."
        ) from error
    return _mark_paid(row)


def _mturk_shows_paid(row: BonusPayment, client: MTurkClient) -> bool:
    try:
        bonuses = client.list_bonuses(assignment_id=row.assignment_id)
    except PlatformError as error:
        _update(row, error=str(error))
        raise ServiceError(
            f"{_describe(row)} may already be paid and MTurk's list of bonuses could not be "
            f"read to check ({error}); try again later."
        ) from error
    return any(bonus.worker_id == row.worker_id for bonus in bonuses)


# --- Prolific ---------------------------------------------------------------------------


def _send_prolific(payment: BonusPayment, client: ProlificClient) -> BonusPayment:
    row = BonusPayment.objects.get(pk=payment.pk)
    if row.status == BonusStatus.PAID:
        return row
    if row.status == BonusStatus.NEEDS_CHECK or row.sent_at is not None:
        _update(row, status=BonusStatus.NEEDS_CHECK)
        raise ServiceError(
            f"{_describe(row)} may already have been paid (an earlier request got no answer) "
            "and Prolific would pay it again. Check the participant's bonuses on Prolific, then "
            "record what you found with bonus_payment_resolve."
        )
    if not row.platform_study_id:
        raise ServiceError(f"{_describe(row)} has no Prolific study id (platform_study_id).")
    try:
        # Setting up pays nothing, so it is safe to repeat after any failure.
        bulk_id = client.setup_bonus(
            study_id=row.platform_study_id, participant_id=row.worker_id, amount=row.amount
        )
    except PlatformError as error:
        _update(row, error=str(error))
        raise ServiceError(f"{_describe(row)}: Prolific did not set it up: {error}") from error
    # Claim the one payment request atomically: of two processes sending the same row,
    # only the one whose update matches goes on to pay.
    claimed = BonusPayment.objects.filter(
        pk=row.pk, sent_at__isnull=True, status__in=[BonusStatus.PENDING, BonusStatus.REFUSED]
    ).update(
        status=BonusStatus.PENDING,
        sent_at=timezone.now(),
        attempts=F("attempts") + 1,
        external_id=bulk_id,
    )
    row.refresh_from_db()
    if not claimed:
        raise ServiceError(f"{_describe(row)} is being sent by another process; not sent again.")
    try:
        client.pay_bonus(bulk_bonus_id=bulk_id)
    except PlatformError as error:
        if error.acted is False:
            _update(row, status=BonusStatus.REFUSED, sent_at=None, error=str(error))
            raise ServiceError(f"{_describe(row)} was refused, nothing paid: {error}") from error
        _update(row, status=BonusStatus.NEEDS_CHECK, error=str(error))
        raise ServiceError(
            f"{_describe(row)}: no answer from Prolific ({error}). It may have been paid: "
            "check on Prolific and record the answer with bonus_payment_resolve."
        ) from error
    return _mark_paid(row)


# --- the ledger's small steps, each committed on its own ---------------------------------


def _checked_bonus(
    *,
    platform: str,
    study_key: str,
    worker_id: str,
    assignment_id: str,
    amount: Decimal | str,
    reason: str,
    platform_study_id: str,
) -> Decimal:
    """The amount as a Decimal, once every field of the bonus is known to be usable."""
    if platform not in PaymentPlatform.values:
        raise ServiceError(
            f"platform={platform!r}; use one of {', '.join(PaymentPlatform.values)}."
        )
    for name, value in (("study_key", study_key), ("reason", reason)):
        if not value or not value.strip():
            raise ServiceError(f"{name} is empty; a bonus needs it.")
    for name, value in (("worker_id", worker_id), ("assignment_id", assignment_id)):
        if not _PLATFORM_ID.match(value or ""):
            raise ServiceError(f"{name}={value!r} is not a platform id (letters and digits only).")
    if platform == PaymentPlatform.PROLIFIC and not _PLATFORM_ID.match(platform_study_id):
        raise ServiceError(
            f"platform_study_id={platform_study_id!r}: a Prolific bonus needs the study's id on "
            "Prolific (its STUDY_ID)."
        )
    try:
        return Decimal(money(amount))
    except ValueError as error:
        raise ServiceError(str(error)) from error


def _refuse_inside_transaction(name: str) -> None:
    if transaction.get_connection().in_atomic_block:
        raise ServiceError(
            f"{name} must not run inside a transaction: the ledger commits each step before "
            "calling the platform, so that a crash never loses a payment. Call it outside "
            "transaction.atomic()."
        )


def _mark_sent(row: BonusPayment) -> None:
    _update(row, status=BonusStatus.PENDING, sent_at=timezone.now(), attempts=row.attempts + 1)


def _mark_paid(row: BonusPayment) -> BonusPayment:
    _update(row, status=BonusStatus.PAID, paid_at=timezone.now(), error="")
    return row


def _update(row: BonusPayment, **fields) -> None:
    """Write ``fields`` to the row at once (autocommit) and to the instance."""
    BonusPayment.objects.filter(pk=row.pk).update(**fields)
    for name, value in fields.items():
        setattr(row, name, value)


def _describe(row: BonusPayment) -> str:
    return f"the bonus of {row.amount} to {row.worker_id} for {row.assignment_id}"
