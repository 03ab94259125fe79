"""Platform URL parameters: MTurk, MTurk preview, Prolific, the pilot link, and what is refused."""

from __future__ import annotations

import pytest

from icelab.errors import ServiceError
from studies.models import Study
from studies.services import arrival_from_params

MTURK = {
    "assignmentId": "3ASSIGN",
    "hitId": "3HIT",
    "workerId": "AWORKER",
    "turkSubmitTo": "https://www.mturk.com",
}
PROLIFIC = {"PROLIFIC_PID": "5f0a", "STUDY_ID": "60b1", "SESSION_ID": "7c2d"}


def study(**fields) -> Study:
    return Study(slug="s", platforms=["mturk", "prolific"], **fields)


def test_it_reads_mturk_parameters_as_a_worker_and_an_assignment():
    arrival = arrival_from_params(study=study(), params=MTURK)
    assert (arrival.platform, arrival.external_id, arrival.attempt_id) == (
        "mturk",
        "AWORKER",
        "3ASSIGN",
    )
    assert arrival.platform_study_id == "3HIT" and arrival.turk_submit_to == "https://www.mturk.com"
    assert arrival.as_params() == MTURK


def test_a_trailing_slash_on_the_sandbox_submit_site_is_accepted():
    params = {**MTURK, "turkSubmitTo": "https://workersandbox.mturk.com/"}
    assert (
        arrival_from_params(study=study(), params=params).turk_submit_to
        == "https://workersandbox.mturk.com"
    )


def test_an_mturk_preview_needs_no_worker():
    arrival = arrival_from_params(
        study=study(), params={"assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "hitId": "3HIT"}
    )
    assert arrival.preview and not arrival.external_id


def test_it_reads_prolific_parameters():
    arrival = arrival_from_params(study=study(), params=PROLIFIC)
    assert (arrival.platform, arrival.external_id, arrival.attempt_id) == (
        "prolific",
        "5f0a",
        "7c2d",
    )


def test_no_parameters_is_an_anonymous_pilot_only_when_the_study_allows_it():
    arrival = arrival_from_params(study=study(allow_anonymous=True), params={})
    assert arrival.platform == "anonymous" and len(arrival.external_id) == 16
    with pytest.raises(ServiceError, match="missing its platform parameters"):
        arrival_from_params(study=study(), params={})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({**MTURK, "workerId": ""}, "no workerId"),
        ({k: v for k, v in MTURK.items() if k != "hitId"}, "no hitId"),
        ({**MTURK, "turkSubmitTo": "https://evil.example"}, "not an MTurk site"),
        ({**MTURK, "turkSubmitTo": "http://www.mturk.com"}, "not an MTurk site"),
        ({**MTURK, "workerId": "A<script>"}, "workerId in the link is not a valid ID"),
        ({**MTURK, "workerId": "A" * 65}, "not a valid ID"),
        ({**PROLIFIC, "PROLIFIC_PID": "{{%PROLIFIC_PID%}}"}, "PROLIFIC_PID in the link"),
        ({"PROLIFIC_PID": "5f0a"}, "no STUDY_ID"),
        ({**PROLIFIC, **MTURK}, "both MTurk and Prolific"),
        ({**PROLIFIC, "SESSION_ID": "caf\ufffd"}, "SESSION_ID in the link"),
    ],
)
def test_malformed_parameters_are_refused_naming_the_parameter(params, message):
    with pytest.raises(ServiceError, match=message):
        arrival_from_params(study=study(), params=params)


def test_a_platform_the_study_does_not_use_is_refused():
    with pytest.raises(ServiceError, match="does not recruit on Prolific"):
        arrival_from_params(study=Study(slug="s", platforms=["mturk"]), params=PROLIFIC)
