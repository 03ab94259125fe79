"""A study on Prolific: free the places of participants who returned or timed out there.

Prolific offers a returned or timed-out place to someone else, so ICE Lab must stop
counting that participant in the balanced assignment. :func:`study_prolific_sync` reads
every submission of the study on Prolific and moves each such participant forward to
*returned* or *timed out* (their rows are kept; the status flags them). Statuses only move
forward, so running it again changes nothing, and a participant who already completed is
never touched.
"""

from __future__ import annotations

from typing import Any

from icelab.errors import ServiceError

from ..integrations.base import PlatformError
from ..integrations.prolific import ProlificClient, SubmissionStatus, sync_submissions
from ..models import Attempt, Participant, ParticipantStatus, Platform, Study
from .participants import participant_set_status

_STATUS_FOR = {
    SubmissionStatus.RETURNED: ParticipantStatus.RETURNED,
    SubmissionStatus.TIMED_OUT: ParticipantStatus.TIMED_OUT,
}


def study_prolific_study_ids(*, study: Study) -> list[str]:
    """The study's ids on Prolific: the one in its platform settings, else those participants came with."""
    named = (study.platform_settings or {}).get("prolific_study_id")
    if named:
        return [str(named)]
    return sorted(
        Attempt.objects.filter(participant__study=study, participant__platform=Platform.PROLIFIC)
        .exclude(platform_study_id="")
        .values_list("platform_study_id", flat=True)
        .distinct()
    )


def study_prolific_sync(*, study: Study, client: ProlificClient | None = None) -> dict[str, Any]:
    """Free the slot of every participant Prolific reports as RETURNED or TIMED-OUT.

    Returns what happened: ``freed`` (participant ids freed now), ``kept`` (returned or
    timed out on Prolific but already finished in ICE Lab, or unknown to it: left as they
    are), ``counts`` (submissions per Prolific status) and ``unknown_statuses`` (statuses
    this code does not know: reported, never acted on).
    """
    study_ids = study_prolific_study_ids(study=study)
    if not study_ids:
        raise ServiceError(
            f"Study {study.slug!r} has no Prolific study id: set platform_settings "
            '"prolific_study_id" to the id shown on Prolific (STUDY_ID).'
        )
    client = client if client is not None else ProlificClient.from_settings()
    kept: list[str] = []

    def free_slot(*, participant_id: str, submission_id: str, status: SubmissionStatus) -> bool:
        participant = Participant.objects.filter(
            study=study, platform=Platform.PROLIFIC, external_id=participant_id
        ).first()
        if participant is None or participant.status != ParticipantStatus.STARTED:
            kept.append(participant_id)
            return False
        try:
            participant_set_status(
                participant=participant,
                status=_STATUS_FOR[status],
                rule=f"Prolific reported submission {submission_id} as {status.value}",
            )
        except ServiceError:  # they finished meanwhile: statuses only move forward
            kept.append(participant_id)
            return False
        return True

    result: dict[str, Any] = {"freed": [], "kept": kept, "counts": {}, "unknown_statuses": []}
    for study_id in study_ids:
        try:
            synced = sync_submissions(client, study_id=study_id, free_slot=free_slot)
        except (PlatformError, ValueError) as error:
            raise ServiceError(
                f"Study {study.slug!r}: reading Prolific study {study_id}: {error}"
            ) from error
        result["freed"] += synced.freed
        for status, count in synced.counts.items():
            result["counts"][status] = result["counts"].get(status, 0) + count
        result["unknown_statuses"] = sorted(
            set(result["unknown_statuses"]) | synced.unknown_statuses
        )
    return result
