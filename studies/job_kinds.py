"""The studies app's background jobs: platform calls that never run inside a web request.

Registered from :meth:`studies.apps.StudiesConfig.ready` on the default (CPU) route. Each
handler calls one service, which is safe to run again (the job's *Retry* is always safe):

- ``mturk_grant_qualification`` ``{"participant": pk}``: the "has taken part" grant,
  queued when an MTurk worker starts;
- ``mturk_approve`` ``{"study": pk}``: approve completed participants' assignments;
- ``prolific_sync`` ``{"study": pk}``: free the places of returned/timed-out participants;
- ``pay_bonuses`` ``{"study": pk}``: record and send the bonuses the study owes.
"""

from __future__ import annotations

from typing import Any

from icelab.errors import ServiceError
from jobs.progress import Progress

from .models import Participant, Study


def mturk_grant_qualification(params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from .services.mturk_study import participant_mturk_grant

    participant = Participant.objects.select_related("study").get(pk=params["participant"])
    progress(0.0, f"granting the qualification to {participant.external_id}")
    return participant_mturk_grant(participant=participant)


def mturk_approve(params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from .services.mturk_study import study_mturk_approve

    study = Study.objects.get(pk=params["study"])
    progress(0.0, "reading the study's assignments on MTurk")
    return _raise_on_errors(study_mturk_approve(study=study), study)


def prolific_sync(params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from .services.prolific_study import study_prolific_sync

    study = Study.objects.get(pk=params["study"])
    progress(0.0, "reading the study's submissions on Prolific")
    return study_prolific_sync(study=study)


def pay_bonuses(params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from .services.study_bonuses import study_bonuses_pay

    study = Study.objects.get(pk=params["study"])
    progress(0.0, "recording and sending bonuses")
    result = study_bonuses_pay(study=study)
    if result["needs_check"]:
        result["errors"].append(
            f"{len(result['needs_check'])} Prolific bonus(es) need a check on Prolific "
            f"(ledger rows {result['needs_check']}): resolve them under Bonus payments."
        )
    return _raise_on_errors(result, study)


def _raise_on_errors(result: dict[str, Any], study: Study) -> dict[str, Any]:
    """Fail the job (so the admin shows it) when some items failed; the rest is done."""
    if result.get("errors"):
        done = {k: v for k, v in result.items() if k != "errors"}
        raise ServiceError(
            f"Study {study.slug!r}: {len(result['errors'])} problem(s): "
            + "; ".join(result["errors"])
            + f". Done meanwhile: {done}. Fix the cause and retry the job: it is safe to repeat."
        )
    return result


def register_job_kinds() -> None:
    from jobs.registry import register

    register("mturk_grant_qualification", mturk_grant_qualification)
    register("mturk_approve", mturk_approve)
    register("prolific_sync", prolific_sync)
    register("pay_bonuses", pay_bonuses)
