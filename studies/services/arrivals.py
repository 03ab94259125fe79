"""Who is arriving: the platform's URL parameters, checked, as an :class:`Arrival`.

MTurk appends ``assignmentId``, ``hitId``, ``workerId`` and ``turkSubmitTo`` (in preview
``assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE`` and no worker); Prolific appends
``PROLIFIC_PID``, ``STUDY_ID`` and ``SESSION_ID``; a pilot link has none of them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from icelab.errors import ServiceError

from ..models import Platform, Study

MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"
MTURK_PARAMS = ("assignmentId", "hitId", "workerId", "turkSubmitTo")
PROLIFIC_PARAMS = ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID")
# The only places an MTurk completion form may be posted to: anything else would let a
# crafted link send a participant's code (and our form) to another site.
MTURK_SUBMIT_HOSTS = ("https://www.mturk.com", "https://workersandbox.mturk.com")
_PLATFORM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Arrival:
    platform: str
    external_id: str = ""
    attempt_id: str = ""
    platform_study_id: str = ""
    turk_submit_to: str = ""
    preview: bool = False

    def as_params(self) -> dict[str, str]:
        """The URL parameters that describe this arrival again (the start form repeats them)."""
        if self.platform == Platform.MTURK:
            return {
                "assignmentId": self.attempt_id,
                "hitId": self.platform_study_id,
                "workerId": self.external_id,
                "turkSubmitTo": self.turk_submit_to,
            }
        if self.platform == Platform.PROLIFIC:
            return {
                "PROLIFIC_PID": self.external_id,
                "STUDY_ID": self.platform_study_id,
                "SESSION_ID": self.attempt_id,
            }
        return {}


def arrival_from_params(*, study: Study, params: Mapping[str, str]) -> Arrival:
    """Parse the entry URL's parameters; raise ServiceError naming the parameter that is wrong."""
    mturk = any(name in params for name in MTURK_PARAMS)
    prolific = any(name in params for name in PROLIFIC_PARAMS)
    if mturk and prolific:
        raise ServiceError(
            "The link has both MTurk and Prolific parameters; a study link comes from one platform."
        )
    if mturk:
        arrival = _mturk(params)
    elif prolific:
        arrival = _prolific(params)
    elif study.allow_anonymous:
        token = secrets.token_hex(8)
        return Arrival(platform=Platform.ANONYMOUS, external_id=token, attempt_id=token)
    else:
        raise ServiceError(
            "This study link is missing its platform parameters: open it from the MTurk HIT "
            "or the Prolific study page."
        )
    if arrival.platform not in study.platforms:
        raise ServiceError(f"This study does not recruit on {Platform(arrival.platform).label}.")
    return arrival


def _mturk(params: Mapping[str, str]) -> Arrival:
    if params.get("assignmentId") == MTURK_PREVIEW:
        return Arrival(platform=Platform.MTURK, preview=True)
    for name in ("assignmentId", "hitId", "workerId"):
        _check_id(params, name)
    submit_to = params.get("turkSubmitTo", "").rstrip("/")
    if submit_to not in MTURK_SUBMIT_HOSTS:
        raise ServiceError(
            f"turkSubmitTo={params.get('turkSubmitTo', '')!r} is not an MTurk site; open the "
            "study from its HIT."
        )
    return Arrival(
        platform=Platform.MTURK,
        external_id=params["workerId"],
        attempt_id=params["assignmentId"],
        platform_study_id=params["hitId"],
        turk_submit_to=submit_to,
    )


def _prolific(params: Mapping[str, str]) -> Arrival:
    for name in PROLIFIC_PARAMS:
        _check_id(params, name)
    return Arrival(
        platform=Platform.PROLIFIC,
        external_id=params["PROLIFIC_PID"],
        attempt_id=params["SESSION_ID"],
        platform_study_id=params["STUDY_ID"],
    )


def _check_id(params: Mapping[str, str], name: str) -> None:
    value = params.get(name, "")
    if not value:
        raise ServiceError(f"The link has no {name}; open the study from the platform's page.")
    if "{{%" in value or not _PLATFORM_ID.match(value):
        raise ServiceError(
            f"{name} in the link is not a valid ID (letters and digits, at most 64); open the "
            "study from the platform's page."
        )
