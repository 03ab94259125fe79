"""Pay a study's bonuses: who earned one under its rule, recorded in the ledger, then sent.

Who earns it: a *completed* participant (excluded ones never do) whose test accuracy is at
least the ``min_accuracy`` of the bonus rule of the version they took, for the ``amount``
of that rule. Every bonus goes through the ledger (:mod:`.bonus_payments`): all rows are
recorded (committed) first, then each unpaid one is sent. The ledger pays a row once, so
running this again, or after a crash at any point, pays nobody twice; a Prolific row
whose outcome is unknown (NEEDS_CHECK) is never sent again here: a researcher resolves it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q

from icelab.errors import ServiceError, error_message

from ..integrations.base import money
from ..integrations.mturk import MTurkClient
from ..integrations.prolific import ProlificClient
from ..models import BonusPayment, BonusStatus, Participant, ParticipantStatus, Platform, Study
from .bonus_payments import PlatformClient, bonus_payment_record, bonus_payment_send

# The same slack as analysis.stats.scoring: 4/5 meets a rule of 0.8 whatever the rounding.
_SLACK = 1e-9


def meets_bonus_rule(*, correct: int, total: int, min_accuracy: float) -> bool:
    """Whether ``correct`` of ``total`` test trials reaches ``min_accuracy`` (at least, not above)."""
    return total > 0 and correct / total >= min_accuracy - _SLACK


@dataclass(frozen=True)
class BonusDue:
    participant: Participant
    amount: Decimal
    reason: str
    accuracy: float


def study_key(study: Study) -> str:
    """How the ledger names the study (part of every bonus token: never change it)."""
    return f"study-{study.pk}"


def study_bonuses_due(*, study: Study) -> list[BonusDue]:
    """The platform participants of ``study`` who earned the bonus of the version they took."""
    participants = (
        Participant.objects.filter(
            study=study,
            status=ParticipantStatus.COMPLETED,
            platform__in=[Platform.MTURK, Platform.PROLIFIC],
        )
        .select_related("version")
        .annotate(
            n_correct=Count(
                "responses", filter=Q(responses__phase="test", responses__is_correct=True)
            ),
            n_test=Count("responses", filter=Q(responses__phase="test")),
        )
        .order_by("pk")
    )
    due = []
    for participant in participants:
        rule = participant.version.config.get("bonus_rule") or {}
        if "min_accuracy" not in rule:
            continue
        if not meets_bonus_rule(
            correct=participant.n_correct,
            total=participant.n_test,
            min_accuracy=float(rule["min_accuracy"]),
        ):
            continue
        if "amount" not in rule:
            raise ServiceError(
                f"Study {study.slug!r} v{participant.version.number}: the bonus rule has no "
                'amount; write it like {"min_accuracy": 0.8, "amount": "0.50"}.'
            )
        reason = rule.get("reason") or (
            f"Bonus for a test accuracy of at least {float(rule['min_accuracy']):.0%} in "
            f"{study.title!r}. Thank you!"
        )
        try:
            amount = Decimal(money(rule["amount"], name="bonus_rule amount"))
        except ValueError as error:
            raise ServiceError(
                f"Study {study.slug!r} v{participant.version.number}: {error}"
            ) from error
        due.append(
            BonusDue(
                participant=participant,
                amount=amount,
                reason=reason,
                accuracy=participant.n_correct / participant.n_test,
            )
        )
    return due


def study_bonuses_pay(
    *,
    study: Study,
    mturk: MTurkClient | None = None,
    prolific: ProlificClient | None = None,
) -> dict[str, Any]:
    """Record every bonus ``study`` owes, then send each unpaid one; returns what happened.

    The result lists ``paid`` (ledger row ids paid now), ``already_paid``, ``needs_check``
    (Prolific rows whose payment may have gone through: resolve them in the admin) and
    ``errors`` (one message per bonus that could not be recorded or sent; the others go on).
    Must run outside a transaction (the ledger commits each step before calling out).
    """
    clients = _Clients(mturk=mturk, prolific=prolific)
    result: dict[str, Any] = {
        "due": 0,
        "paid": [],
        "already_paid": 0,
        "needs_check": [],
        "errors": [],
    }
    rows: list[BonusPayment] = []
    for due in study_bonuses_due(study=study):
        result["due"] += 1
        try:
            rows.append(_record(study, due))
        except ServiceError as error:
            result["errors"].append(f"{due.participant}: {error_message(error)}")
    for row in rows:
        if row.status == BonusStatus.PAID:
            result["already_paid"] += 1
            continue
        if row.status == BonusStatus.NEEDS_CHECK:
            # Prolific may have paid it: only a researcher's check may let it go out again.
            result["needs_check"].append(row.pk)
            continue
        try:
            bonus_payment_send(payment=row, client=clients.get(row.platform))
            result["paid"].append(row.pk)
        except ServiceError as error:
            row.refresh_from_db()
            if row.status == BonusStatus.NEEDS_CHECK:
                result["needs_check"].append(row.pk)
            else:
                result["errors"].append(error_message(error))
    return result


def _record(study: Study, due: BonusDue) -> BonusPayment:
    participant = due.participant
    attempt = participant.attempts.order_by("-created_at", "-pk").first()
    if attempt is None:
        raise ServiceError(f"{participant} has no attempt (assignment or session) to pay on.")
    platform_study_id = attempt.platform_study_id
    if participant.platform == Platform.PROLIFIC:
        platform_study_id = (study.platform_settings or {}).get(
            "prolific_study_id"
        ) or platform_study_id
    payment = bonus_payment_record(
        platform=participant.platform,
        study_key=study_key(study),
        worker_id=participant.external_id,
        assignment_id=attempt.attempt_id,
        amount=due.amount,
        reason=due.reason,
        platform_study_id=platform_study_id,
        participant=participant,
    )
    return payment


class _Clients:
    """Each platform's client, made the first time a bonus on that platform is sent."""

    def __init__(self, *, mturk: MTurkClient | None, prolific: ProlificClient | None) -> None:
        self._made: dict[str, PlatformClient] = {}
        if mturk is not None:
            self._made[Platform.MTURK] = mturk
        if prolific is not None:
            self._made[Platform.PROLIFIC] = prolific

    def get(self, platform: str) -> PlatformClient:
        if platform not in self._made:
            factory: Callable[[], PlatformClient] = (
                MTurkClient.from_settings
                if platform == Platform.MTURK
                else ProlificClient.from_settings
            )
            try:
                self._made[platform] = factory()
            except ValueError as error:
                raise ServiceError(str(error)) from error
        return self._made[platform]
