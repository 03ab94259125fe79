"""Reads of the studies app: participants by token, progress, monitoring figures."""

from __future__ import annotations

import re
import statistics
from datetime import datetime
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from .models import Participant, ParticipantStatus, Study, TrialResponse

_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def study_by_slug(*, slug: str) -> Study | None:
    return Study.objects.select_related("current_version").filter(slug=slug).first()


def participant_by_token(*, study: Study, token: str) -> Participant | None:
    """The participant whose URL token is ``token`` in ``study``; None for any other token.

    Tokens are ``secrets.token_urlsafe``: anything outside its alphabet (a NUL byte, which
    PostgreSQL refuses in a query, or any other odd character) is not looked up at all.
    """
    if not token or len(token) > 64 or not _TOKEN.fullmatch(token):
        return None
    return (
        Participant.objects.select_related("version", "study", "group")
        .filter(study=study, url_token=token)
        .first()
    )


def participant_by_person(*, study: Study, platform: str, external_id: str) -> Participant | None:
    return Participant.objects.filter(
        study=study, platform=platform, external_id=external_id
    ).first()


def participant_response(*, participant: Participant, trial_id: int) -> TrialResponse:
    return TrialResponse.objects.get(participant=participant, trial_id=trial_id)


def participant_accuracy(*, participant: Participant) -> tuple[int, int]:
    """(correct, answered) over the participant's test trials."""
    rows = TrialResponse.objects.filter(participant=participant, phase="test").aggregate(
        correct=Count("pk", filter=Q(is_correct=True)), total=Count("pk")
    )
    return rows["correct"], rows["total"]


def participant_earns_bonus(*, participant: Participant) -> bool:
    """Whether the study's bonus rule (``min_accuracy``) flags this completed participant for a bonus."""
    rule = participant.version.config.get("bonus_rule") or {}
    if participant.status != ParticipantStatus.COMPLETED or "min_accuracy" not in rule:
        return False
    correct, total = participant_accuracy(participant=participant)
    return bool(total) and correct / total >= float(rule["min_accuracy"])


def participant_mturk_attempt(*, participant: Participant):
    """The participant's latest attempt (MTurk's completion form posts its assignment)."""
    return participant.attempts.order_by("-created_at", "-pk").first()


def study_group_stats(*, study: Study, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per group: counts by status (active = started and within the time limit), accuracy, median minutes."""
    now = now or timezone.now()
    rows = []
    for group in study.groups.select_related("stimulus_set").order_by("pk"):
        people = Participant.objects.filter(group=group)
        counts = people.aggregate(
            started=Count("pk"),
            active=Count("pk", filter=Q(status=ParticipantStatus.STARTED, deadline__gt=now)),
            completed=Count("pk", filter=Q(status=ParticipantStatus.COMPLETED)),
            timed_out=Count(
                "pk",
                filter=Q(status=ParticipantStatus.TIMED_OUT)
                | Q(status=ParticipantStatus.STARTED, deadline__lte=now),
            ),
            returned=Count("pk", filter=Q(status=ParticipantStatus.RETURNED)),
            excluded=Count("pk", filter=Q(status=ParticipantStatus.EXCLUDED)),
        )
        answers = TrialResponse.objects.filter(participant__group=group, phase="test").aggregate(
            correct=Count("pk", filter=Q(is_correct=True)), total=Count("pk")
        )
        durations = [
            (done - start).total_seconds() / 60
            for start, done in people.filter(completed_at__isnull=False).values_list(
                "started_at", "completed_at"
            )
        ]
        rows.append(
            {
                "group": group,
                **counts,
                "accuracy": answers["correct"] / answers["total"] if answers["total"] else None,
                "test_answers": answers["total"],
                "median_minutes": statistics.median(durations) if durations else None,
            }
        )
    return rows


def study_links(*, study: Study, base_url: str = "") -> dict[str, str]:
    """The study's participant link (the pilot link when no platform parameters are added) and its
    monitoring page, prefixed with ``base_url`` (e.g. ``http://127.0.0.1:8000``)."""
    from django.urls import reverse

    base = base_url.rstrip("/")
    return {
        "participant_url": base + reverse("studies:entry", kwargs={"slug": study.slug}),
        "admin_url": base + reverse("admin:studies_study_monitor", args=[study.pk]),
    }
