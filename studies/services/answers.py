"""Storing answers: one POST answers the participant's current page, once.

:func:`page_submit` runs under the participant's row lock. A POST for any page but the
current one (back button, reload, double click, a second tab) is *stale*: it writes
nothing and the caller redirects to the current page. The database backs this with
unique constraints (one response per participant and trial, one description per
concept), so even a bug here could not store an answer twice.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django import forms
from django.db import transaction
from django.utils import timezone

from explainers.selectors import trial_candidate_concepts

from ..models import (
    DemographicAnswer,
    Description,
    Event,
    Participant,
    ParticipantStatus,
    QuestionnaireAnswer,
    Study,
    TrialResponse,
)
from ..pages import CompletionPage, participant_flow, shown_candidates
from .participants import StudyNotOpen, participant_expire_if_due, status_move_locked

if TYPE_CHECKING:  # the studies app reads explainers only through its selectors
    from explainers.models import Trial


class Outcome(enum.Enum):
    STORED = "stored"
    STALE = "stale"
    INVALID = "invalid"
    FORGED = "forged"


@dataclass
class Submission:
    outcome: Outcome
    form: forms.Form | None = None


def page_submit(
    *, participant: Participant, page: int, data: Any, now: datetime | None = None
) -> Submission:
    """Answer page ``page`` of ``participant`` with the POST ``data``.

    STORED: the answers are stored and the participant moved on. STALE: ``page`` is not
    the current page (or the participant has finished); nothing was written. INVALID:
    the form has errors (returned for showing again); nothing was written. FORGED:
    ``page`` lies ahead of the participant (no page of ours ever showed that form).
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = (
            # Lock the participant's row only: other participants of the study go on in parallel.
            Participant.objects.select_for_update(of=("self",))
            .select_related("version", "study")
            .get(pk=participant.pk)
        )
        if locked.study.status == Study.Status.CLOSED:
            raise StudyNotOpen("The study is closed.")
        if participant_expire_if_due(participant=locked, now=now):
            return Submission(Outcome.STALE)
        if locked.status == ParticipantStatus.STARTED and page > locked.page:
            return Submission(Outcome.FORGED)
        if locked.status != ParticipantStatus.STARTED or page != locked.page:
            return Submission(Outcome.STALE)
        flow = participant_flow(locked)
        current = flow.current
        form = current.form(flow, data)
        if form is None:
            return Submission(Outcome.STALE)
        if not form.is_valid():
            return Submission(Outcome.INVALID, form)
        current.submit(flow, form.cleaned_data, now)
        if locked.status == ParticipantStatus.STARTED:
            locked.page += 1
            locked.page_shown_at = None
            locked.save(update_fields=["page", "page_shown_at"])
            if isinstance(flow.pages[locked.page], CompletionPage):
                participant_finish(participant=locked, now=now)
    return Submission(Outcome.STORED)


def page_shown(*, participant: Participant, now: datetime | None = None) -> Participant:
    """Record that the current page was shown: its first showing starts the response clock."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        participant_expire_if_due(participant=locked, now=now)
        if locked.status == ParticipantStatus.STARTED and locked.page_shown_at is None:
            locked.page_shown_at = now
            locked.save(update_fields=["page_shown_at"])
        Event.objects.create(participant=locked, kind=Event.Kind.PAGE_VIEW, page=locked.page)
    return locked


def response_store(
    *, participant: Participant, trial: Trial, position: int, now: datetime
) -> TrialResponse:
    shown = shown_candidates(participant=participant, trial=trial)
    concepts = trial_candidate_concepts(trial=trial)
    shown_concepts = [concepts[key] for key in shown]
    chosen = shown_concepts[position - 1]
    started = participant.page_shown_at or now
    return TrialResponse.objects.create(
        participant=participant,
        version=participant.version,
        trial=trial,
        phase=trial.phase,
        chosen_concept=chosen,
        chosen_position=position,
        shown_order=[concept.pk for concept in shown_concepts],
        is_correct=chosen.index == trial.target_concept,
        rt_ms=max(0, round((now - started).total_seconds() * 1000)),
    )


def descriptions_store(
    *,
    participant: Participant,
    trial: Trial,
    texts: dict[int, str],
) -> list[Description]:
    """One description per shown row, keyed by the concept shown in that row."""
    response = TrialResponse.objects.get(participant=participant, trial=trial)
    descriptions = Description.objects.bulk_create(
        [
            Description(
                response=response, concept_id=response.shown_order[n - 1], position=n, text=text
            )
            for n, text in sorted(texts.items())
        ]
    )
    return descriptions


def quality_events_store(
    *, participant: Participant, trial: Trial, page: int, counts: dict[str, Any]
) -> None:
    """The page's quality signals (focus losses, pastes counted by its script) as events."""
    for kind, field in ((Event.Kind.FOCUS_LOSS, "focus_losses"), (Event.Kind.PASTE, "pastes")):
        if counts.get(field):
            Event.objects.create(
                participant=participant,
                kind=kind,
                page=page,
                trial=trial,
                detail={"count": counts[field]},
            )


def questionnaire_store(*, participant: Participant, answers: dict[str, int]) -> None:
    QuestionnaireAnswer.objects.bulk_create(
        [
            QuestionnaireAnswer(
                participant=participant, version=participant.version, item=item, value=value
            )
            for item, value in answers.items()
        ]
    )


def demographics_store(*, participant: Participant, answers: dict[str, Any]) -> None:
    DemographicAnswer.objects.bulk_create(
        [
            DemographicAnswer(
                participant=participant,
                version=participant.version,
                item=item,
                value="" if value is None else str(value),
            )
            for item, value in answers.items()
        ]
    )


def participant_decline(*, participant: Participant, now: datetime) -> None:
    """Declined consent: the participant returns the task and frees their slot (caller holds the lock)."""
    status_move_locked(participant, ParticipantStatus.RETURNED, rule="declined consent", now=now)


def participant_finish(*, participant: Participant, now: datetime) -> None:
    """Complete the participant (the last answer is stored) and issue their code, in one transaction.

    Test accuracy below the study's exclusion threshold excludes them (rows kept,
    flagged with the rule); they get the failed-attention code when the study has one.
    """
    from ..selectors import participant_accuracy

    config = participant.version.config
    status_move_locked(participant, ParticipantStatus.COMPLETED, rule="", now=now)
    correct, total = participant_accuracy(participant=participant)
    code = config["code_completed"]
    threshold = config["exclusion_threshold"]
    if total and correct / total < threshold:
        rule = (
            f"test accuracy {correct}/{total} ({correct / total:.0%}) below the exclusion "
            f"threshold {threshold:.0%}"
        )
        status_move_locked(participant, ParticipantStatus.EXCLUDED, rule=rule, now=now)
        code = config["code_failed_attention"] or code
    participant.completion_code = code
    participant.save(update_fields=["completion_code"])


def training_revisit(*, participant: Participant, number: int) -> Trial:
    """Log a revisit of training trial ``number`` (1-based) during the test phase; return the trial.

    Raises ServiceError when the participant is not in the test phase or there is no such trial.
    """
    from icelab.errors import ServiceError

    flow = participant_flow(participant)
    if participant.status != ParticipantStatus.STARTED or flow.current.phase != "test":
        raise ServiceError("The training tasks can be looked at again during the test tasks.")
    training = flow.group["training"]
    if not 1 <= number <= len(training):
        raise ServiceError(f"There is no training task {number}; there are {len(training)}.")
    trial = flow.trials[training[number - 1]]
    Event.objects.create(
        participant=participant,
        kind=Event.Kind.REVISIT,
        page=participant.page,
        trial=trial,
        detail={"training": number},
    )
    return trial
