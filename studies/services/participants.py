"""Participants arriving, resuming, and moving forward through their statuses."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from icelab.errors import ServiceError

from ..models import Attempt, Event, Participant, ParticipantStatus, Study
from ..models.participants import STATUS_TRANSITIONS
from .arrivals import Arrival
from .assignment import participant_assign_group
from .mturk_study import participant_mturk_grant_after_commit


class StudyNotOpen(ServiceError):
    """The study exists but takes no arrivals or answers now (paused, closed or a draft)."""


class AlreadyTookPart(ServiceError):
    """The person already took part in another study of the same exclusive set."""


def participant_enter(
    *, study: Study, arrival: Arrival, now: datetime | None = None
) -> Participant:
    """The participant for ``arrival``: their existing record (resumed), or a new one in a balanced group.

    Preview arrivals are refused (they create nothing). Safe under concurrent arrivals:
    the study's row lock serialises assignment, and the unique (study, platform, person)
    constraint turns a race of the same person into a resume.
    """
    if arrival.preview:
        raise ServiceError("An MTurk preview cannot start the study; accept the HIT first.")
    now = now or timezone.now()
    try:
        return _enter(study, arrival, now)
    except IntegrityError:
        # The same person arrived twice at once and the other request created the record.
        return _enter(study, arrival, now)


@transaction.atomic
def _enter(study: Study, arrival: Arrival, now: datetime) -> Participant:
    locked = (
        Study.objects.select_for_update(of=("self",))
        .select_related("current_version")
        .get(pk=study.pk)
    )
    existing = Participant.objects.filter(
        study=locked, platform=arrival.platform, external_id=arrival.external_id
    ).first()
    if existing is not None:
        _record_attempt(existing, arrival)
        # A grant that failed earlier is queued again (one queued or done is left alone).
        participant_mturk_grant_after_commit(participant=existing)
        return existing
    if locked.status != Study.Status.LIVE:
        raise StudyNotOpen(f"The study is {locked.get_status_display().lower()}.")
    if locked.exclusive_set and _took_part_in_set(locked, arrival):
        raise AlreadyTookPart(
            "You have already taken part in a study of this series; each person takes part once."
        )
    version = locked.current_version
    seed = secrets.randbits(63)
    participant = Participant.objects.create(
        study=locked,
        version=version,
        group=participant_assign_group(version=version, now=now, seed=seed),
        platform=arrival.platform,
        external_id=arrival.external_id,
        exclusive_set=locked.exclusive_set,
        url_token=secrets.token_urlsafe(32),
        form_token=secrets.token_urlsafe(32),
        order_seed=seed,
        started_at=now,
        deadline=now + timedelta(minutes=version.config["time_limit_minutes"]),
    )
    _record_attempt(participant, arrival)
    # The "has taken part" qualification is granted by a job queued after this transaction
    # commits: MTurk is never called while the study's row is locked or the page waits.
    participant_mturk_grant_after_commit(participant=participant)
    return participant


def _took_part_in_set(study: Study, arrival: Arrival) -> bool:
    return Participant.objects.filter(
        exclusive_set=study.exclusive_set,
        platform=arrival.platform,
        external_id=arrival.external_id,
    ).exists()


def _record_attempt(participant: Participant, arrival: Arrival) -> None:
    attempt, created = Attempt.objects.get_or_create(
        participant=participant,
        attempt_id=arrival.attempt_id,
        defaults={
            "platform_study_id": arrival.platform_study_id,
            "turk_submit_to": arrival.turk_submit_to,
        },
    )
    if not created:
        attempt.save(update_fields=["last_seen_at"])
    Event.objects.create(
        participant=participant,
        kind=Event.Kind.ATTEMPT,
        page=participant.page,
        detail={"attempt": arrival.attempt_id, "new": created},
    )


def participant_set_status(
    *, participant: Participant, status: str, rule: str = "", now: datetime | None = None
) -> Participant:
    """Move ``participant`` forward to ``status``; raise ServiceError for a move backwards.

    Rows are never deleted: an excluded or timed-out participant keeps every response,
    and ``rule`` (required for exclusions) says why.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        status_move_locked(locked, status, rule=rule, now=now)
    return locked


def status_move_locked(participant: Participant, status: str, *, rule: str, now: datetime) -> None:
    """Apply a forward move to a participant whose row the caller has locked."""
    if status == participant.status:
        return
    if status not in STATUS_TRANSITIONS.get(participant.status, ()):
        raise ServiceError(
            f"Participant {participant.pk} is {participant.status}; statuses only move forward "
            f"and {participant.status} cannot become {status}."
        )
    if status == ParticipantStatus.EXCLUDED and not rule:
        raise ServiceError("Excluding a participant needs the rule that excludes them.")
    previous = participant.status
    participant.status = status
    participant.ended_at = now
    if status == ParticipantStatus.COMPLETED:
        participant.completed_at = now
    if rule:
        participant.exclusion_rule = rule[:300]
    participant.save(update_fields=["status", "ended_at", "completed_at", "exclusion_rule"])
    Event.objects.create(
        participant=participant,
        kind=Event.Kind.STATUS,
        page=participant.page,
        detail={"from": previous, "to": status, "rule": rule},
    )


def participant_expire_if_due(*, participant: Participant, now: datetime) -> bool:
    """Time out a started participant past their deadline (the caller holds the row lock)."""
    if participant.status == ParticipantStatus.STARTED and now >= participant.deadline:
        status_move_locked(
            participant,
            ParticipantStatus.TIMED_OUT,
            rule=f"time limit passed at {participant.deadline.isoformat()}",
            now=now,
        )
        return True
    return False


def participants_expire(*, study: Study, now: datetime | None = None) -> int:
    """Time out every started participant of ``study`` past the deadline; return how many."""
    now = now or timezone.now()
    count = 0
    due = Participant.objects.filter(
        study=study, status=ParticipantStatus.STARTED, deadline__lte=now
    ).values_list("pk", flat=True)
    for pk in due:
        with transaction.atomic():
            locked = Participant.objects.select_for_update().get(pk=pk)
            count += participant_expire_if_due(participant=locked, now=now)
    return count
