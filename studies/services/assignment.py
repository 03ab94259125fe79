"""Balanced between-subjects assignment.

A new participant joins the group of the current version with the fewest participants
that still count: completed (and not excluded), or started and inside their time limit.
Returned, timed-out and excluded participants free their slot. Ties are broken at random
from the participant's recorded seed. Callers hold the study's row lock, so concurrent
arrivals are counted one after another (PostgreSQL; SQLite serialises writers anyway).
"""

from __future__ import annotations

import random
from datetime import datetime

from django.db.models import Count, Q

from ..models import Group, Participant, ParticipantStatus, StudyVersion


def counting_participants(*, version: StudyVersion, now: datetime) -> Q:
    """Participants of ``version`` that hold a slot at ``now``."""
    return Q(version=version) & (
        Q(status=ParticipantStatus.COMPLETED)
        | Q(status=ParticipantStatus.STARTED, deadline__gt=now)
    )


def group_fill(*, version: StudyVersion, now: datetime) -> dict[int, int]:
    """Slots held per group id of ``version`` (every group of the version, zero included)."""
    fill = {group["id"]: 0 for group in version.config["groups"]}
    rows = (
        Participant.objects.filter(counting_participants(version=version, now=now))
        .values("group")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        fill[row["group"]] = row["n"]
    return fill


def participant_assign_group(*, version: StudyVersion, now: datetime, seed: int) -> Group:
    """The least-filled group of ``version``; ties broken by ``random.Random(seed)``."""
    fill = group_fill(version=version, now=now)
    fewest = min(fill.values())
    tied = sorted(group_id for group_id, n in fill.items() if n == fewest)
    return Group.objects.get(pk=random.Random(seed).choice(tied))
