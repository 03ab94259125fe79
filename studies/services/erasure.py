"""Erasing one participant on request (a data-protection right), leaving everyone else intact.

Every row that is about the person goes: their answers, descriptions, questionnaire and
demographic answers, events, attempts (assignment ids), and the participant row with its
platform id. Nothing of another participant refers to them, so the analysis of the others
is unchanged; their group simply has one member fewer.

Bonus payments are financial records that may have to be kept: their rows stay (amount,
status, dates) but lose the worker and assignment ids. A payment not yet settled
(pending, or its outcome unknown) is refused: erasing its ids would make it impossible to
reconcile with the platform, so settle it first.

Files already exported (reports, CSVs) are not touched: their pseudonyms cannot be traced
back to the person without the pseudonym key, and the researcher deletes or regenerates
them if the ethics approval requires it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.db import transaction

from icelab.errors import ServiceError

from ..models import (
    Attempt,
    BonusPayment,
    DemographicAnswer,
    Description,
    Event,
    Participant,
    QuestionnaireAnswer,
    Study,
    TrialResponse,
)

ERASED = "erased"


class ParticipantNotFound(ServiceError):
    """No participant of that study has that platform id."""


@dataclass(frozen=True)
class Deletion:
    """How many rows of each kind were deleted (or, for payments, stripped of their ids)."""

    deleted: dict[str, int]
    payments_anonymised: int

    def as_dict(self) -> dict[str, object]:
        return {"deleted": self.deleted, "payments_anonymised": self.payments_anonymised}


@transaction.atomic
def participant_delete(*, study: Study, platform: str, external_id: str) -> Deletion:
    """Delete every row about ``platform:external_id`` in ``study``, in one transaction."""
    participant = (
        Participant.objects.select_for_update()
        .filter(study=study, platform=platform, external_id=external_id)
        .first()
    )
    if participant is None:
        raise ParticipantNotFound(
            f"study {study.slug!r} has no participant {platform}:{external_id!r}; check the "
            "platform (mturk, prolific, anonymous) and the id exactly as the platform shows it."
        )
    payments = BonusPayment.objects.select_for_update().filter(
        platform=platform, worker_id=external_id, study_key=study.slug
    )
    unsettled = payments.filter(
        status__in=[BonusPayment.Status.PENDING, BonusPayment.Status.NEEDS_CHECK]
    )
    if unsettled.exists():
        raise ServiceError(
            f"{unsettled.count()} bonus payment(s) to {platform}:{external_id!r} are not settled "
            "(pending or needing a check); settle them on the platform first, then erase."
        )
    deleted: dict[str, int] = {}
    responses = TrialResponse.objects.filter(participant=participant)
    for label, rows in (
        ("descriptions", Description.objects.filter(response__in=responses)),
        ("trial_responses", responses),
        ("questionnaire_answers", QuestionnaireAnswer.objects.filter(participant=participant)),
        ("demographic_answers", DemographicAnswer.objects.filter(participant=participant)),
        ("events", Event.objects.filter(participant=participant)),
        ("attempts", Attempt.objects.filter(participant=participant)),
        ("participants", Participant.objects.filter(pk=participant.pk)),
    ):
        deleted[label] = rows.count()
        rows.delete()
    anonymised = 0
    for payment in payments:
        # Random, so the ledger's uniqueness (one bonus per worker and assignment) still holds.
        payment.worker_id = f"{ERASED}-{secrets.token_hex(8)}"
        payment.assignment_id = f"{ERASED}-{secrets.token_hex(8)}"
        payment.save(update_fields=["worker_id", "assignment_id"])
        anonymised += 1
    return Deletion(deleted=deleted, payments_anonymised=anonymised)
