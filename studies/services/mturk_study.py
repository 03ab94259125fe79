"""A study on MTurk: its "has taken part" qualification, its HITs, and approving its work.

- :func:`study_mturk_setup` finds or makes the study's qualification on MTurk.
- :func:`participant_mturk_grant_submit` queues the grant when a worker starts (after the
  participant's transaction commits, as a job: a slow or failing MTurk never touches the
  participant's page); :func:`participant_mturk_grant` is the job's work.
- :func:`study_mturk_create_hit` makes a HIT for the study's current version, once per batch.
- :func:`study_mturk_approve` approves the submitted assignments of completed participants.

Every function here is safe to run again: granting a held qualification, approving an
approved assignment and creating a batch's HIT a second time are successes.
"""

from __future__ import annotations

import hashlib
import logging
import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction

from icelab.errors import ServiceError

from ..integrations.base import PlatformError, money
from ..integrations.mturk import MTurkClient
from ..models import MTurkHIT, Participant, ParticipantStatus, Platform, Study

logger = logging.getLogger(__name__)

GRANT_JOB = "mturk_grant_qualification"
# Attempts of one grant job on an answer that never came (MTurk may be briefly down), and
# the pause before each retry; a refusal is not retried (it would be refused again).
GRANT_ATTEMPTS = 3
GRANT_RETRY_PAUSE_S = 2.0
# MTurk's assignment lasts the study's time limit plus this, so that a worker at their
# deadline still has time to press MTurk's submit button.
SUBMIT_MARGIN_S = 10 * 60
DEFAULT_HIT_LIFETIME_S = 3 * 24 * 3600
DEFAULT_MAX_ASSIGNMENTS = 9  # MTurk's fee rises from 10 assignments per HIT
APPROVAL_FEEDBACK = "Thank you for taking part."


def _client(client: MTurkClient | None) -> MTurkClient:
    return client if client is not None else MTurkClient.from_settings()


def _platform_error(action: str, error: PlatformError) -> ServiceError:
    return ServiceError(f"{action}: {error}")


# --- the "has taken part" qualification -------------------------------------------------


def study_mturk_qualification_type_id(*, study: Study) -> str:
    """The qualification the study grants: the one named in its platform settings, else its own."""
    named = (study.platform_settings or {}).get("mturk_qualification_type_id", "")
    return str(named or study.mturk_qualification_type_id)


def study_mturk_setup(*, study: Study, client: MTurkClient | None = None) -> str:
    """The study's "has taken part" qualification id, found or made on MTurk and recorded.

    A qualification named in ``platform_settings["mturk_qualification_type_id"]`` is used as
    it is. Otherwise the qualification is looked up by its name, which is derived from the
    study and unique per requester, so running this again (or after a crash) finds the same
    one instead of making another.
    """
    named = (study.platform_settings or {}).get("mturk_qualification_type_id")
    if named:
        return str(named)
    client = _client(client)
    try:
        type_id = client.ensure_qualification_type(
            name=f"ICE Lab {study.slug}: took part",
            description=(
                f"Took part in the ICE Lab study {study.title!r}; its HITs are hidden from "
                "workers who hold it, so that nobody takes the study twice."
            ),
        )
    except PlatformError as error:
        raise _platform_error(f"Study {study.slug!r}: the MTurk qualification", error) from error
    Study.objects.filter(pk=study.pk).update(mturk_qualification_type_id=type_id)
    study.mturk_qualification_type_id = type_id
    return type_id


def participant_mturk_grant_submit(*, participant: Participant) -> Any:
    """Queue the job granting ``participant``'s worker the study's qualification.

    Returns the job, or None when there is nothing to grant (not an MTurk worker, the study
    has no qualification yet, or a grant already succeeded). Submitting while a grant is
    queued or running returns that job (``job_submit`` is idempotent); one that failed is
    submitted again, which is how a failed grant is retried on the worker's next arrival.
    """
    from jobs.models import Job
    from jobs.services import idempotency_key, job_submit

    if participant.platform != Platform.MTURK:
        return None
    study = Study.objects.get(pk=participant.study_id)
    if not study_mturk_qualification_type_id(study=study):
        return None
    params = {"participant": participant.pk}
    done = Job.objects.filter(
        idempotency_key=idempotency_key(GRANT_JOB, params), status=Job.Status.SUCCEEDED
    )
    if done.exists():
        return None
    return job_submit(kind=GRANT_JOB, params=params)


def participant_mturk_grant_after_commit(*, participant: Participant) -> None:
    """Queue the grant once the caller's transaction commits; never raise into the caller.

    Called inside the participant's entry transaction: the job is submitted only if that
    transaction commits (a rolled-back start grants nothing), and a failure to queue it is
    logged instead of breaking the participant's page (the next arrival queues it again).
    """
    if participant.platform != Platform.MTURK:
        return

    def submit() -> None:
        try:
            participant_mturk_grant_submit(participant=participant)
        except Exception:
            logger.exception("could not queue the MTurk grant for participant %s", participant.pk)

    transaction.on_commit(submit)


def participant_mturk_grant(
    *, participant: Participant, client: MTurkClient | None = None
) -> dict[str, Any]:
    """Grant ``participant``'s worker the study's qualification; granting again is a success.

    An answer that never came is retried (``GRANT_ATTEMPTS`` in all); a refusal, or the
    last failure, raises ServiceError, which the job records.
    """
    study = participant.study
    type_id = study_mturk_qualification_type_id(study=study)
    if not type_id:
        raise ServiceError(
            f"Study {study.slug!r} has no MTurk qualification; run its 'Set up MTurk' action."
        )
    client = _client(client)
    for attempt in range(1, GRANT_ATTEMPTS + 1):
        try:
            client.grant_qualification(
                qualification_type_id=type_id, worker_id=participant.external_id
            )
            return {"worker": participant.external_id, "qualification": type_id, "tries": attempt}
        except PlatformError as error:
            if error.acted is False or attempt == GRANT_ATTEMPTS:
                raise _platform_error(
                    f"Granting {type_id} to worker {participant.external_id}", error
                ) from error
            time.sleep(GRANT_RETRY_PAUSE_S * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def study_mturk_grants_submit(*, study: Study) -> int:
    """Queue the grant of every MTurk participant of ``study`` without a successful one."""
    submitted = 0
    for participant in Participant.objects.filter(study=study, platform=Platform.MTURK):
        submitted += participant_mturk_grant_submit(participant=participant) is not None
    return submitted


# --- HITs --------------------------------------------------------------------------------


def study_question_url(*, study: Study, base_url: str | None = None) -> str:
    """The https address MTurk frames: ``<base_url>/s/<slug>/`` (default ICELAB_PUBLIC_URL)."""
    base = (base_url if base_url is not None else settings.ICELAB_PUBLIC_URL).strip()
    if not base:
        raise ServiceError(
            "ICELAB_PUBLIC_URL is not set: give the https:// address participants reach "
            "ICE Lab at (e.g. https://icelab.example.org) before making HITs."
        )
    parts = urlsplit(base)
    if parts.scheme != "https" or not parts.netloc:
        raise ServiceError(
            f"The study's public address {base!r} is not https://. MTurk shows only https "
            "pages in its frame: serve ICE Lab over TLS and set ICELAB_PUBLIC_URL to its "
            "https:// address."
        )
    return f"{base.rstrip('/')}/s/{study.slug}/"


def hit_request_token(*, study: Study, version_number: int, batch: int, sandbox: bool) -> str:
    """The UniqueRequestToken of a batch's HIT: the same on every retry (64 hex digits)."""
    site = "sandbox" if sandbox else "live"
    text = "\x1f".join(("icelab-hit", str(study.pk), str(version_number), str(batch), site))
    return hashlib.sha256(text.encode()).hexdigest()


def study_mturk_create_hit(
    *,
    study: Study,
    batch: int = 1,
    base_url: str | None = None,
    client: MTurkClient | None = None,
) -> MTurkHIT:
    """Make the HIT of ``batch`` for the study's current version, or return the one made.

    The HIT frames the study's https link, requires the absence of the study's "has taken
    part" qualification, and carries a token derived from study, version, batch and site,
    so a retry never makes a second HIT. Its reward, size and lifetime come from
    ``platform_settings["mturk_hit"]`` (``reward`` required; ``max_assignments``,
    ``lifetime_hours``, ``keywords``, ``auto_approval_hours`` optional).
    """
    if study.status != Study.Status.LIVE or study.current_version is None:
        raise ServiceError(f"Study {study.slug!r} is {study.status}; launch it before making HITs.")
    if "mturk" not in (study.platforms or []):
        raise ServiceError(f"Study {study.slug!r} does not admit MTurk; add 'mturk' to platforms.")
    if batch < 1:
        raise ServiceError(f"batch={batch} must be 1 or more.")
    url = study_question_url(study=study, base_url=base_url)
    options = _hit_options(study)
    client = _client(client)
    version = study.current_version
    token = hit_request_token(
        study=study, version_number=version.number, batch=batch, sandbox=client.sandbox
    )
    existing = MTurkHIT.objects.filter(unique_request_token=token).first()
    if existing is not None:
        return existing
    type_id = study_mturk_qualification_type_id(study=study) or study_mturk_setup(
        study=study, client=client
    )
    try:
        hit = client.create_hit(
            title=study.title,
            description=study.description or study.title,
            question_url=url,
            exclusion_qualification_type_id=type_id,
            unique_request_token=token,
            assignment_duration_s=study.time_limit_minutes * 60 + SUBMIT_MARGIN_S,
            **options,
        )
    except ValueError as error:
        raise ServiceError(f"Study {study.slug!r}: {error}") from error
    except PlatformError as error:
        raise ServiceError(
            f"Study {study.slug!r}, batch {batch}: MTurk did not make the HIT ({error}). If an "
            "earlier attempt's answer was lost, MTurk refuses this batch's token for 24 hours "
            "because the HIT exists: find it on the requester site instead of making another."
        ) from error
    try:
        return MTurkHIT.objects.create(
            study=study,
            version=version,
            batch=batch,
            hit_id=hit.hit_id,
            hit_type_id=hit.hit_type_id,
            unique_request_token=token,
            sandbox=client.sandbox,
            question_url=url,
            max_assignments=hit.max_assignments,
            reward=Decimal(options["reward"]),
        )
    except IntegrityError:  # a concurrent call recorded it first
        return MTurkHIT.objects.get(unique_request_token=token)


def _hit_options(study: Study) -> dict[str, Any]:
    raw = (study.platform_settings or {}).get("mturk_hit") or {}
    if "reward" not in raw:
        raise ServiceError(
            f'Study {study.slug!r}: platform_settings needs "mturk_hit": {{"reward": "3.00"}} '
            "(dollars per assignment; optional max_assignments, lifetime_hours, keywords, "
            "auto_approval_hours)."
        )
    try:
        options: dict[str, Any] = {
            "reward": money(raw["reward"], name="mturk_hit.reward"),
            "max_assignments": int(raw.get("max_assignments", DEFAULT_MAX_ASSIGNMENTS)),
            "lifetime_s": int(float(raw.get("lifetime_hours", 0)) * 3600) or DEFAULT_HIT_LIFETIME_S,
            "keywords": [str(word) for word in raw.get("keywords", [])],
        }
        if "auto_approval_hours" in raw:
            options["auto_approval_delay_s"] = int(float(raw["auto_approval_hours"]) * 3600)
    except (TypeError, ValueError) as error:
        raise ServiceError(f"Study {study.slug!r}: platform_settings mturk_hit: {error}") from error
    return options


# --- approvals ---------------------------------------------------------------------------


def study_mturk_approve(
    *, study: Study, client: MTurkClient | None = None, feedback: str = APPROVAL_FEEDBACK
) -> dict[str, Any]:
    """Approve every submitted assignment of the study's HITs made by a completed participant.

    An assignment is approved only when its worker is a participant of the study whose
    status is *completed* and the assignment is one of their attempts; everything else
    (excluded, timed out, unknown to ICE Lab) is left for the researcher and counted.
    Approving an approved assignment is a success, so this can be run again at any time.
    """
    client = _client(client)
    hits = list(MTurkHIT.objects.filter(study=study, sandbox=client.sandbox))
    if not hits:
        raise ServiceError(f"Study {study.slug!r} has no HITs on this MTurk site to review.")
    completed = {
        (worker, attempt)
        for worker, attempt in Participant.objects.filter(
            study=study, platform=Platform.MTURK, status=ParticipantStatus.COMPLETED
        ).values_list("external_id", "attempts__attempt_id")
    }
    result: dict[str, Any] = {"approved": 0, "already_approved": 0, "left": 0, "errors": []}
    for hit in hits:
        try:
            assignments = client.list_assignments(hit_id=hit.hit_id)
        except PlatformError as error:
            result["errors"].append(f"HIT {hit.hit_id}: {error}")
            continue
        for assignment in assignments:
            if assignment.status == "Approved":
                result["already_approved"] += 1
                continue
            if (
                assignment.status != "Submitted"
                or (assignment.worker_id, assignment.assignment_id) not in completed
            ):
                result["left"] += 1
                continue
            try:
                client.approve_assignment(assignment_id=assignment.assignment_id, feedback=feedback)
                result["approved"] += 1
            except PlatformError as error:
                result["errors"].append(f"assignment {assignment.assignment_id}: {error}")
    return result
