"""Prolific: the completion redirect, the researcher API, and syncing returned places.

The API client speaks plain HTTPS with ``urllib`` through a replaceable ``transport``
(tests replay recorded responses; nothing here reaches the live service in tests).
Authentication is Prolific's ``Authorization: Token <token>`` header, and the token is
only ever sent to the API's own host, even when a paging link points elsewhere.

Bonuses on Prolific are two calls: "set up" (creates a bulk bonus, pays nothing) and
"pay" (pays it, and is NOT idempotent: a second call pays again). The ledger in
:mod:`studies.services.bonus_payments` decides when "pay" may be called.
"""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urljoin, urlsplit

from .base import PlatformError, money

API_URL = "https://api.prolific.com/api/v1/"
COMPLETION_URL = "https://app.prolific.com/submissions/complete"
# The query parameters Prolific appends to the study URL ({{%PROLIFIC_PID%}} etc.).
URL_PARAMETERS = ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID")
_CODE = re.compile(r"^[A-Za-z0-9]{1,64}$")
# Prolific's ids (participants, studies, submissions, bulk bonuses) are 24 hex digits;
# anything outside letters and digits is refused before it reaches a URL or a bonus CSV.
_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")
_MAX_PAGES = 10_000


class SubmissionStatus(StrEnum):
    RESERVED = "RESERVED"
    ACTIVE = "ACTIVE"
    TIMED_OUT = "TIMED-OUT"
    AWAITING_REVIEW = "AWAITING REVIEW"
    RETURNED = "RETURNED"
    REJECTED = "REJECTED"
    SCREENED_OUT = "SCREENED OUT"
    APPROVED = "APPROVED"
    PARTIALLY_APPROVED = "PARTIALLY APPROVED"


# What each status means for the study's place (slot) held by the participant.
IN_PROGRESS = frozenset({SubmissionStatus.RESERVED, SubmissionStatus.ACTIVE})
FINISHED = frozenset(
    {
        SubmissionStatus.AWAITING_REVIEW,
        SubmissionStatus.APPROVED,
        SubmissionStatus.PARTIALLY_APPROVED,
    }
)
# The participant left (returned the study, or ran out of time): Prolific offers the
# place to someone else, so ICE Lab frees the slot and keeps the partial data, flagged.
FREES_SLOT = frozenset({SubmissionStatus.RETURNED, SubmissionStatus.TIMED_OUT})


def study_url(url: str) -> str:
    """``url`` with Prolific's placeholders appended: what a researcher pastes on Prolific.

    ``study_url("https://x.org/s/abc/")`` ends with
    ``?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}``;
    Prolific replaces each placeholder for every participant. An existing query is kept.
    """
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise ValueError(f"study URL {url!r} is not an https URL; serve the study over TLS.")
    placeholders = "&".join(f"{name}={{{{%{name}%}}}}" for name in URL_PARAMETERS)
    query = f"{parts.query}&{placeholders}" if parts.query else placeholders
    return parts._replace(query=query).geturl()


def completion_url(code: str) -> str:
    """Where a participant goes once their last response is stored: Prolific records ``code``.

    Raises ValueError for a code that is not 1-64 letters and digits (as Prolific makes them).
    """
    if not _CODE.match(code or ""):
        raise ValueError(
            f"completion code {code!r} must be 1-64 letters or digits, as shown in the "
            "study's completion settings on Prolific."
        )
    return f"{COMPLETION_URL}?{urlencode({'cc': code})}"


@dataclass(frozen=True)
class Submission:
    submission_id: str
    participant_id: str
    status: SubmissionStatus | None  # None: a status this code does not know yet
    raw_status: str
    started_at: str | None = None
    completed_at: str | None = None
    study_code: str | None = None

    @property
    def frees_slot(self) -> bool:
        return self.status in FREES_SLOT


# --- HTTP -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes


Transport = Callable[[HttpRequest], HttpResponse]


def urllib_transport(request: HttpRequest, *, timeout_s: float = 30.0) -> HttpResponse:
    """Send ``request`` with the standard library; HTTP errors come back as responses.

    Raises PlatformError when no answer arrives: ``acted=False`` when the connection was
    never made (nothing sent), ``acted=None`` otherwise (a time-out after sending).
    """
    prepared = urllib.request.Request(
        request.url, data=request.body, headers=request.headers, method=request.method
    )
    try:
        with urllib.request.urlopen(prepared, timeout=timeout_s) as response:  # noqa: S310
            return HttpResponse(status=response.status, body=response.read())
    except urllib.error.HTTPError as error:
        return HttpResponse(status=error.code, body=error.read())
    except urllib.error.URLError as error:
        never_sent = isinstance(error.reason, ConnectionRefusedError | socket.gaierror)
        raise PlatformError(
            f"Prolific {request.method} {request.url}: {error.reason}",
            acted=False if never_sent else None,
        ) from error
    except (TimeoutError, ConnectionError) as error:
        raise PlatformError(
            f"Prolific {request.method} {request.url}: {error}", acted=None
        ) from error


# --- the API client -----------------------------------------------------------------------


class ProlificClient:
    """The Prolific researcher API calls ICE Lab makes."""

    def __init__(
        self, *, token: str, base_url: str = API_URL, transport: Transport = urllib_transport
    ) -> None:
        if not token:
            raise ValueError(
                "the Prolific API token is empty; create one under the workspace's API "
                "tokens on Prolific and set PROLIFIC_API_TOKEN."
            )
        self.token = token
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.transport = transport

    @classmethod
    def from_settings(cls) -> ProlificClient:
        from django.conf import settings

        return cls(token=settings.PROLIFIC_API_TOKEN)

    def list_submissions(self, *, study_id: str) -> list[Submission]:
        """Every submission of the Prolific study ``study_id`` (the STUDY_ID), all pages."""
        path = f"studies/{_checked_id(study_id, 'study_id')}/submissions/"
        return [_submission(item) for item in self._paged(path)]

    def setup_bonus(self, *, study_id: str, participant_id: str, amount: Decimal | str) -> str:
        """Create a bulk bonus of ``amount`` for one participant; returns its id. Pays nothing."""
        # One CSV line: an id with a comma or a newline would add bonuses of its own.
        participant_id = _checked_id(participant_id, "participant_id")
        body = {
            "study_id": _checked_id(study_id, "study_id"),
            "csv_bonuses": f"{participant_id},{money(amount)}",
        }
        return str(self._request("POST", "submissions/bonus-payments/", body)["id"])

    def pay_bonus(self, *, bulk_bonus_id: str) -> None:
        """Pay a bulk bonus made by :meth:`setup_bonus`. NOT idempotent on Prolific's side."""
        bulk_bonus_id = _checked_id(bulk_bonus_id, "bulk_bonus_id")
        self._request("POST", f"bulk-bonus-payments/{quote(bulk_bonus_id)}/pay/", {})

    # --- plumbing -------------------------------------------------------------------------

    def _paged(self, path: str) -> Iterator[dict[str, Any]]:
        url: str | None = urljoin(self.base_url, path)
        for _ in range(_MAX_PAGES):
            if url is None:
                return
            page = self._request("GET", url)
            yield from page.get("results", [])
            url = ((page.get("_links") or {}).get("next") or {}).get("href")
        raise PlatformError(f"Prolific {path}: more than {_MAX_PAGES} pages; stopped paging.")

    def _request(self, method: str, path_or_url: str, body: Any = None) -> dict[str, Any]:
        url = urljoin(self.base_url, path_or_url)
        if _origin(url) != _origin(self.base_url):
            # Never send the token to another host, whatever a response links to.
            raise PlatformError(f"Prolific answered with a link to another host: {url}")
        headers = {"Authorization": f"Token {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        response = self.transport(HttpRequest(method, url, headers, data))
        return _decoded(method, url, response)


def _checked_id(value: str, name: str) -> str:
    if not _ID.match(value or ""):
        raise ValueError(f"{name}={value!r} is not a Prolific id (letters and digits only).")
    return value


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _decoded(method: str, url: str, response: HttpResponse) -> dict[str, Any]:
    text = response.body.decode("utf-8", errors="replace")
    if 200 <= response.status < 300:
        try:
            return json.loads(text) if text.strip() else {}
        except json.JSONDecodeError:
            raise PlatformError(f"Prolific {method} {url}: not JSON: {text[:200]!r}") from None
    detail = _error_detail(text)
    if response.status in (401, 403):
        detail += (
            " (check PROLIFIC_API_TOKEN: the token is missing, revoked or of another workspace)"
        )
    # A 4xx is a refusal; a 5xx may come after the request took effect.
    acted = False if response.status < 500 else None
    raise PlatformError(
        f"Prolific {method} {url}: HTTP {response.status}: {detail}",
        acted=acted,
        code=str(response.status),
    )


def _error_detail(text: str) -> str:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        return text[:200]
    error = payload.get("error", payload) if isinstance(payload, dict) else payload
    if isinstance(error, dict):
        detail = error.get("detail", error)
        return detail if isinstance(detail, str) else json.dumps(detail)
    return str(error)


def _submission(item: dict[str, Any]) -> Submission:
    raw = item.get("status", "")
    try:
        status: SubmissionStatus | None = SubmissionStatus(raw)
    except ValueError:
        status = None
    return Submission(
        submission_id=item["id"],
        participant_id=item.get("participant_id") or item.get("participant") or "",
        status=status,
        raw_status=raw,
        started_at=item.get("started_at"),
        completed_at=item.get("completed_at"),
        study_code=item.get("study_code") or item.get("entered_code"),
    )


# --- syncing returns and time-outs --------------------------------------------------------


class SlotReleaser(Protocol):
    """What the studies app gives :func:`sync_submissions` to free a participant's place.

    Returns True when a slot was freed by this call, False when there was nothing to free
    (already freed by an earlier sync, or no such participant in ICE Lab). Must be
    idempotent: every sync reports every returned submission again.
    """

    def __call__(
        self, *, participant_id: str, submission_id: str, status: SubmissionStatus
    ) -> bool: ...


@dataclass
class SyncResult:
    freed: list[str] = field(default_factory=list)  # participant ids freed by this sync
    returned_or_timed_out: list[str] = field(default_factory=list)  # every such id
    counts: Counter[str] = field(default_factory=Counter)  # submissions per raw status
    unknown_statuses: set[str] = field(default_factory=set)


def sync_submissions(
    client: ProlificClient, *, study_id: str, free_slot: SlotReleaser | None = None
) -> SyncResult:
    """Read every submission of ``study_id`` and free the slot of each RETURNED/TIMED-OUT one.

    ``free_slot`` is called once per such submission, on every sync (it must be
    idempotent). Statuses this code does not know are counted and listed, never acted on.
    """
    result = SyncResult()
    for submission in client.list_submissions(study_id=study_id):
        result.counts[submission.raw_status] += 1
        if submission.status is None:
            result.unknown_statuses.add(submission.raw_status)
            continue
        if not submission.frees_slot:
            continue
        result.returned_or_timed_out.append(submission.participant_id)
        if free_slot is not None and free_slot(
            participant_id=submission.participant_id,
            submission_id=submission.submission_id,
            status=submission.status,
        ):
            result.freed.append(submission.participant_id)
    return result
