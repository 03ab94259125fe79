"""Amazon Mechanical Turk: the requester calls ICE Lab makes, behind one small class.

Everything MTurk-specific lives here: the ExternalQuestion XML, the endpoints of the
live and sandbox sites, the "has taken part" qualification that keeps a worker from
taking a study twice, and the translation of botocore's errors into
:class:`~studies.integrations.base.PlatformError`. The rest of the app never imports
boto3.

Idempotency: approving an approved assignment, rejecting a rejected one and granting
a qualification the worker already holds are successes. They are confirmed by reading
the state back from MTurk (``get_assignment``, ``get_qualification_score``) rather than
by matching the wording of MTurk's error messages, which is not documented.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from .base import PlatformError, money

REGION = "us-east-1"
ENDPOINTS = {
    False: "https://mturk-requester.us-east-1.amazonaws.com",
    True: "https://mturk-requester-sandbox.us-east-1.amazonaws.com",
}
# Where the study page POSTs the finished assignment (MTurk also passes it as turkSubmitTo).
EXTERNAL_SUBMIT_URLS = {
    False: "https://www.mturk.com/mturk/externalSubmit",
    True: "https://workersandbox.mturk.com/mturk/externalSubmit",
}
# The assignmentId MTurk sends while a worker only previews the HIT.
PREVIEW_ASSIGNMENT_ID = "ASSIGNMENT_ID_NOT_AVAILABLE"
EXTERNAL_QUESTION_NAMESPACE = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/"
    "2006-07-14/ExternalQuestion.xsd"
)
ASSIGNMENT_STATUSES = ("Submitted", "Approved", "Rejected")
MAX_TOKEN_LENGTH = 64  # UniqueRequestToken
MIN_SECONDS, MAX_SECONDS = 30, 365 * 24 * 3600  # AssignmentDuration and Lifetime bounds
_PAGE_SIZE = 100


def external_question_xml(url: str, *, frame_height: int = 0) -> str:
    """The ExternalQuestion document that shows ``url`` in MTurk's iframe.

    ``frame_height=0`` lets the frame take the whole window. Raises ValueError when
    ``url`` is not an absolute https URL: MTurk only frames https pages.
    """
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise ValueError(
            f"question URL {url!r} is not an https URL; MTurk shows only https pages. "
            "Serve the study over TLS and pass its https:// address."
        )
    if frame_height < 0:
        raise ValueError(f"frame_height={frame_height} must be 0 (full window) or positive.")
    return (
        f'<ExternalQuestion xmlns="{EXTERNAL_QUESTION_NAMESPACE}">'
        f"<ExternalURL>{escape(url)}</ExternalURL>"
        f"<FrameHeight>{frame_height}</FrameHeight>"
        "</ExternalQuestion>"
    )


def exclusion_requirement(qualification_type_id: str) -> dict[str, Any]:
    """The HIT requirement that hides the HIT from workers holding the qualification."""
    return {
        "QualificationTypeId": qualification_type_id,
        "Comparator": "DoesNotExist",
        "ActionsGuarded": "DiscoverPreviewAndAccept",
    }


@dataclass(frozen=True)
class HIT:
    hit_id: str
    hit_type_id: str
    status: str
    max_assignments: int
    expiration: datetime | None


@dataclass(frozen=True)
class Assignment:
    assignment_id: str
    worker_id: str
    hit_id: str
    status: str
    accept_time: datetime | None
    submit_time: datetime | None
    answer: str


@dataclass(frozen=True)
class BonusPaid:
    worker_id: str
    assignment_id: str
    amount: Decimal
    reason: str
    grant_time: datetime | None


@contextlib.contextmanager
def _calling(operation: str) -> Iterator[None]:
    """Turn botocore's exceptions into PlatformError, saying whether MTurk may have acted."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ParamValidationError,
        PartialCredentialsError,
    )

    try:
        yield
    except ClientError as error:
        details = error.response.get("Error", {})
        code = details.get("Code", "")
        message = details.get("Message", str(error))
        # RequestError: MTurk refused the request. ServiceFault: it failed on its side,
        # possibly after acting, so the outcome is unknown.
        acted = False if code == "RequestError" else None
        raise PlatformError(f"MTurk {operation}: {message}", acted=acted, code=code) from error
    except (NoCredentialsError, PartialCredentialsError) as error:
        raise PlatformError(
            f"MTurk {operation}: no AWS credentials. Set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) for the requester account.",
            acted=False,
        ) from error
    except (ParamValidationError, EndpointConnectionError, ConnectTimeoutError) as error:
        # Caught before anything reached MTurk.
        raise PlatformError(f"MTurk {operation}: {error}", acted=False) from error
    except BotoCoreError as error:
        # A read time-out or a dropped connection: the request may have been processed.
        raise PlatformError(f"MTurk {operation}: {error}", acted=None) from error


class MTurkClient:
    """The MTurk requester operations ICE Lab uses.

    ``sandbox`` chooses the requester endpoint and the worker submit URL together, so a
    HIT made in the sandbox is always submitted to the sandbox. ``client`` is a boto3
    ``mturk`` client (tests pass one wrapped in botocore's ``Stubber``); by default one is
    made for the chosen endpoint with boto3's own credential chain (``AWS_*`` variables).
    """

    def __init__(self, *, sandbox: bool = True, client: Any | None = None) -> None:
        self.sandbox = sandbox
        if client is None:
            import boto3

            client = boto3.client("mturk", region_name=REGION, endpoint_url=ENDPOINTS[sandbox])
        self.client = client

    @classmethod
    def from_settings(cls) -> MTurkClient:
        """A client for the site chosen by the ``MTURK_SANDBOX`` setting."""
        from django.conf import settings

        return cls(sandbox=settings.MTURK_SANDBOX)

    @property
    def external_submit_url(self) -> str:
        return EXTERNAL_SUBMIT_URLS[self.sandbox]

    def hit_url(self, hit: HIT) -> str:
        """The page where workers find ``hit``'s group on the worker site."""
        site = "https://workersandbox.mturk.com" if self.sandbox else "https://worker.mturk.com"
        return f"{site}/projects/{hit.hit_type_id}/tasks"

    # --- HITs ---------------------------------------------------------------------------

    def create_hit(
        self,
        *,
        title: str,
        description: str,
        question_url: str,
        reward: Decimal | str,
        max_assignments: int,
        assignment_duration_s: int,
        lifetime_s: int,
        exclusion_qualification_type_id: str,
        unique_request_token: str,
        keywords: Sequence[str] = (),
        extra_requirements: Iterable[dict[str, Any]] = (),
        auto_approval_delay_s: int | None = None,
    ) -> HIT:
        """Create a HIT showing ``question_url`` in MTurk's frame.

        Every HIT requires the absence of ``exclusion_qualification_type_id`` (the study's
        "has taken part" qualification, see :meth:`ensure_qualification_type`), so a worker
        who started the study never sees it again. ``unique_request_token`` makes a retry
        of the same call return an error instead of a second HIT.
        """
        for name, value in (("title", title), ("description", description)):
            if not value.strip():
                raise ValueError(f"{name} is empty; workers choose HITs by it.")
        if max_assignments < 1:
            raise ValueError(f"max_assignments={max_assignments} must be at least 1.")
        for name, seconds in (
            ("assignment_duration_s", assignment_duration_s),
            ("lifetime_s", lifetime_s),
        ):
            if not MIN_SECONDS <= seconds <= MAX_SECONDS:
                raise ValueError(
                    f"{name}={seconds} is outside MTurk's {MIN_SECONDS} s to one year."
                )
        params: dict[str, Any] = {
            "Title": title,
            "Description": description,
            "Keywords": ", ".join(keywords),
            "Reward": money(reward, name="reward"),
            "MaxAssignments": max_assignments,
            "AssignmentDurationInSeconds": assignment_duration_s,
            "LifetimeInSeconds": lifetime_s,
            "Question": external_question_xml(question_url),
            "QualificationRequirements": [
                exclusion_requirement(exclusion_qualification_type_id),
                *extra_requirements,
            ],
            "UniqueRequestToken": _token(unique_request_token),
        }
        if auto_approval_delay_s is not None:
            params["AutoApprovalDelayInSeconds"] = auto_approval_delay_s
        with _calling("CreateHIT"):
            response = self.client.create_hit(**params)
        hit = response["HIT"]
        return HIT(
            hit_id=hit["HITId"],
            hit_type_id=hit["HITTypeId"],
            status=hit.get("HITStatus", ""),
            max_assignments=hit.get("MaxAssignments", max_assignments),
            expiration=hit.get("Expiration"),
        )

    # --- the "has taken part" qualification -------------------------------------------

    def ensure_qualification_type(self, *, name: str, description: str) -> str:
        """The id of the requester's qualification type called ``name``, created if missing.

        Names are unique per requester on MTurk, so the name identifies the study's
        qualification; an inactive one is switched back on.
        """
        if not name.strip():
            raise ValueError("the qualification name is empty; use one naming the study.")
        found = self._find_qualification_type(name)
        if found is None:
            try:
                with _calling("CreateQualificationType"):
                    response = self.client.create_qualification_type(
                        Name=name, Description=description, QualificationTypeStatus="Active"
                    )
                return response["QualificationType"]["QualificationTypeId"]
            except PlatformError:
                # Another process created it between our search and our create.
                found = self._find_qualification_type(name)
                if found is None:
                    raise
        if found.get("QualificationTypeStatus") != "Active":
            with _calling("UpdateQualificationType"):
                self.client.update_qualification_type(
                    QualificationTypeId=found["QualificationTypeId"],
                    QualificationTypeStatus="Active",
                )
        return found["QualificationTypeId"]

    def _find_qualification_type(self, name: str) -> dict[str, Any] | None:
        params = {
            "Query": name,
            "MustBeRequestable": False,
            "MustBeOwnedByCaller": True,
            "MaxResults": _PAGE_SIZE,
        }
        for item in self._paged("list_qualification_types", "QualificationTypes", params):
            if item["Name"] == name:
                return item
        return None

    def grant_qualification(self, *, qualification_type_id: str, worker_id: str) -> None:
        """Give ``worker_id`` the qualification; granting it again is a success."""
        try:
            with _calling("AssociateQualificationWithWorker"):
                self.client.associate_qualification_with_worker(
                    QualificationTypeId=qualification_type_id,
                    WorkerId=worker_id,
                    IntegerValue=1,
                    SendNotification=False,
                )
        except PlatformError as error:
            if error.acted is False and self._holds(qualification_type_id, worker_id):
                return
            raise

    def _holds(self, qualification_type_id: str, worker_id: str) -> bool:
        try:
            with _calling("GetQualificationScore"):
                response = self.client.get_qualification_score(
                    QualificationTypeId=qualification_type_id, WorkerId=worker_id
                )
        except PlatformError:
            return False
        return response.get("Qualification", {}).get("Status") == "Granted"

    # --- assignments ----------------------------------------------------------------------

    def list_assignments(
        self, *, hit_id: str, statuses: Sequence[str] = ASSIGNMENT_STATUSES
    ) -> list[Assignment]:
        """Every assignment of ``hit_id`` in ``statuses``, across all result pages."""
        unknown = sorted(set(statuses) - set(ASSIGNMENT_STATUSES))
        if unknown:
            raise ValueError(
                f"unknown assignment statuses {unknown}; use {', '.join(ASSIGNMENT_STATUSES)}."
            )
        params = {"HITId": hit_id, "MaxResults": _PAGE_SIZE, "AssignmentStatuses": list(statuses)}
        return [
            Assignment(
                assignment_id=item["AssignmentId"],
                worker_id=item["WorkerId"],
                hit_id=item["HITId"],
                status=item["AssignmentStatus"],
                accept_time=item.get("AcceptTime"),
                submit_time=item.get("SubmitTime"),
                answer=item.get("Answer", ""),
            )
            for item in self._paged("list_assignments_for_hit", "Assignments", params)
        ]

    def approve_assignment(
        self, *, assignment_id: str, feedback: str = "", override_rejection: bool = False
    ) -> None:
        """Approve (and so pay) an assignment; one already approved counts as a success.

        Raises PlatformError when the assignment was rejected and ``override_rejection`` is
        off, naming the flag that approves it anyway.
        """
        params: dict[str, Any] = {"AssignmentId": assignment_id}
        if feedback:
            params["RequesterFeedback"] = feedback
        if override_rejection:
            params["OverrideRejection"] = True
        try:
            with _calling("ApproveAssignment"):
                self.client.approve_assignment(**params)
        except PlatformError as error:
            status = self._status_after_refusal(error, assignment_id)
            if status == "Approved":
                return
            if status == "Rejected":
                raise PlatformError(
                    f"assignment {assignment_id} was rejected; approve it with "
                    "override_rejection=True (within 30 days of submission).",
                    code=error.code,
                ) from error
            raise

    def reject_assignment(self, *, assignment_id: str, feedback: str) -> None:
        """Reject an assignment, telling the worker why; one already rejected is a success."""
        if not feedback.strip():
            raise ValueError(
                f"rejecting assignment {assignment_id} needs feedback: the worker is told why."
            )
        try:
            with _calling("RejectAssignment"):
                self.client.reject_assignment(
                    AssignmentId=assignment_id, RequesterFeedback=feedback
                )
        except PlatformError as error:
            status = self._status_after_refusal(error, assignment_id)
            if status == "Rejected":
                return
            if status == "Approved":
                raise PlatformError(
                    f"assignment {assignment_id} is already approved; MTurk cannot reject it.",
                    code=error.code,
                ) from error
            raise

    def _status_after_refusal(self, error: PlatformError, assignment_id: str) -> str | None:
        """The assignment's status when MTurk refused a transition, else None."""
        if error.acted is not False:
            return None
        try:
            with _calling("GetAssignment"):
                response = self.client.get_assignment(AssignmentId=assignment_id)
        except PlatformError:
            return None
        return response["Assignment"]["AssignmentStatus"]

    # --- bonuses --------------------------------------------------------------------------

    def send_bonus(
        self,
        *,
        worker_id: str,
        assignment_id: str,
        amount: Decimal | str,
        reason: str,
        unique_request_token: str,
    ) -> None:
        """Pay a bonus. MTurk pays a ``unique_request_token`` once (for 24 hours).

        Use :mod:`studies.services.bonus_payments` rather than calling this directly: the
        ledger there makes sure a bonus is recorded before it is sent and never sent twice.
        """
        if not reason.strip():
            raise ValueError("a bonus needs a reason: MTurk shows it to the worker.")
        with _calling("SendBonus"):
            self.client.send_bonus(
                WorkerId=worker_id,
                BonusAmount=money(amount),
                AssignmentId=assignment_id,
                Reason=reason,
                UniqueRequestToken=_token(unique_request_token),
            )

    def list_bonuses(self, *, assignment_id: str) -> list[BonusPaid]:
        """The bonuses already paid on ``assignment_id`` (every page)."""
        params = {"AssignmentId": assignment_id, "MaxResults": _PAGE_SIZE}
        return [
            BonusPaid(
                worker_id=item["WorkerId"],
                assignment_id=item["AssignmentId"],
                amount=Decimal(item["BonusAmount"]),
                reason=item.get("Reason", ""),
                grant_time=item.get("GrantTime"),
            )
            for item in self._paged("list_bonus_payments", "BonusPayments", params)
        ]

    # --- paging ---------------------------------------------------------------------------

    def _paged(self, method: str, key: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Items under ``key`` from every page; MTurk may hand a NextToken with an empty page."""
        token: str | None = None
        while True:
            with _calling(method):
                response = getattr(self.client, method)(
                    **params, **({"NextToken": token} if token else {})
                )
            items = response.get(key, [])
            yield from items
            token = response.get("NextToken")
            if not token or not items:
                return


def _token(token: str) -> str:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise ValueError(
            f"unique_request_token {token!r} must be 1 to {MAX_TOKEN_LENGTH} characters."
        )
    return token
