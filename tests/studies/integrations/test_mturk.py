"""MTurkClient against botocore's Stubber: the exact requests sent, and each answer handled."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from decimal import Decimal

import boto3
import pytest

from studies.integrations.base import PlatformError, money
from studies.integrations.mturk import (
    ENDPOINTS,
    EXTERNAL_QUESTION_NAMESPACE,
    EXTERNAL_SUBMIT_URLS,
    MTurkClient,
    external_question_xml,
)

STUDY_URL = "https://icelab.example.org/s/abc/?from=mturk&x=1"
QUAL = "3QUALTYPEICELABSTUDY00000000AB"
NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


def _error(stubber, method, code="RequestError", message="refused", status=400):
    stubber.add_client_error(
        method, service_error_code=code, service_message=message, http_status_code=status
    )


# --- ExternalQuestion and endpoints -------------------------------------------------------


def test_it_builds_the_external_question_with_the_escaped_url():
    xml = external_question_xml(STUDY_URL)
    assert "&amp;x=1" in xml  # the & of the query string is escaped in the XML text
    root = ET.fromstring(xml)
    assert root.tag == f"{{{EXTERNAL_QUESTION_NAMESPACE}}}ExternalQuestion"
    assert root.find(f"{{{EXTERNAL_QUESTION_NAMESPACE}}}ExternalURL").text == STUDY_URL
    assert root.find(f"{{{EXTERNAL_QUESTION_NAMESPACE}}}FrameHeight").text == "0"


@pytest.mark.parametrize("url", ["http://icelab.example.org/s/", "/s/abc/", "https://"])
def test_it_refuses_a_question_url_that_is_not_https(url):
    with pytest.raises(ValueError, match="not an https URL"):
        external_question_xml(url)


@pytest.mark.parametrize("sandbox", [True, False])
def test_the_sandbox_switch_chooses_endpoint_and_submit_url_together(sandbox, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = MTurkClient(sandbox=sandbox)
    assert client.client.meta.endpoint_url == ENDPOINTS[sandbox]
    assert client.client.meta.region_name == "us-east-1"
    assert client.external_submit_url == EXTERNAL_SUBMIT_URLS[sandbox]
    assert ("sandbox" in client.external_submit_url) is sandbox
    assert ("sandbox" in client.client.meta.endpoint_url) is sandbox


def test_from_settings_follows_mturk_sandbox(settings, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings.MTURK_SANDBOX = False
    assert MTurkClient.from_settings().client.meta.endpoint_url == ENDPOINTS[False]


@pytest.mark.parametrize(
    ("amount", "text"), [("0.5", "0.50"), (Decimal("2"), "2.00"), (0.1, "0.10"), (3, "3.00")]
)
def test_money_is_written_with_two_decimals(amount, text):
    assert money(amount) == text


@pytest.mark.parametrize("amount", ["0", "-1", "0.005", "abc", "NaN"])
def test_money_refuses_what_cannot_be_paid(amount):
    with pytest.raises(ValueError, match="amount"):
        money(amount)


# --- HITs ---------------------------------------------------------------------------------


def _hit_kwargs(**overrides):
    kwargs = {
        "title": "Match highlighted image regions to concepts",
        "description": "Look at images and pick the matching concept (about 20 minutes).",
        "question_url": STUDY_URL,
        "reward": "2.5",
        "max_assignments": 9,
        "assignment_duration_s": 3600,
        "lifetime_s": 3 * 24 * 3600,
        "exclusion_qualification_type_id": QUAL,
        "unique_request_token": "icelab-study-7-batch-1",
        "keywords": ["image", "concepts", "research"],
    }
    return kwargs | overrides


def test_it_creates_a_hit_that_excludes_workers_who_took_part(mturk_stub):
    client, stubber = mturk_stub
    stubber.add_response(
        "create_hit",
        {
            "HIT": {
                "HITId": "3HITID",
                "HITTypeId": "3HITTYPE",
                "HITStatus": "Assignable",
                "MaxAssignments": 9,
                "Expiration": NOW,
            }
        },
        expected_params={
            "Title": "Match highlighted image regions to concepts",
            "Description": "Look at images and pick the matching concept (about 20 minutes).",
            "Keywords": "image, concepts, research",
            "Reward": "2.50",
            "MaxAssignments": 9,
            "AssignmentDurationInSeconds": 3600,
            "LifetimeInSeconds": 259200,
            "Question": external_question_xml(STUDY_URL),
            "QualificationRequirements": [
                {
                    "QualificationTypeId": QUAL,
                    "Comparator": "DoesNotExist",
                    "ActionsGuarded": "DiscoverPreviewAndAccept",
                },
                {
                    "QualificationTypeId": "00000000000000000071",
                    "Comparator": "EqualTo",
                    "LocaleValues": [{"Country": "US"}],
                },
            ],
            "UniqueRequestToken": "icelab-study-7-batch-1",
        },
    )
    locale = {
        "QualificationTypeId": "00000000000000000071",
        "Comparator": "EqualTo",
        "LocaleValues": [{"Country": "US"}],
    }
    hit = client.create_hit(**_hit_kwargs(extra_requirements=[locale]))
    assert (hit.hit_id, hit.hit_type_id, hit.status) == ("3HITID", "3HITTYPE", "Assignable")
    assert client.hit_url(hit) == "https://workersandbox.mturk.com/projects/3HITTYPE/tasks"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"reward": "0"}, "positive"),
        ({"question_url": "http://icelab.example.org/"}, "https"),
        ({"lifetime_s": 10}, "lifetime_s=10"),
        ({"max_assignments": 0}, "max_assignments"),
        ({"unique_request_token": "x" * 65}, "1 to 64"),
        ({"title": "  "}, "title is empty"),
    ],
)
def test_it_refuses_a_bad_hit_before_calling_mturk(mturk_stub, override, message):
    client, _ = mturk_stub  # nothing queued: a call would fail the test
    with pytest.raises(ValueError, match=message):
        client.create_hit(**_hit_kwargs(**override))


def test_a_refused_hit_raises_a_platform_error_saying_nothing_happened(mturk_stub):
    client, stubber = mturk_stub
    _error(stubber, "create_hit", message="Insufficient funds.")
    with pytest.raises(PlatformError, match="Insufficient funds") as caught:
        client.create_hit(**_hit_kwargs())
    assert caught.value.acted is False and caught.value.code == "RequestError"


def test_a_service_fault_leaves_the_outcome_unknown(mturk_stub):
    client, stubber = mturk_stub
    _error(stubber, "create_hit", code="ServiceFault", message="Internal", status=500)
    with pytest.raises(PlatformError) as caught:
        client.create_hit(**_hit_kwargs())
    assert caught.value.outcome_unknown


# --- the "has taken part" qualification -------------------------------------------------


def _qual(name, qid, status="Active"):
    return {"QualificationTypeId": qid, "Name": name, "QualificationTypeStatus": status}


LIST_QUALS = {
    "Query": "ICE Lab study 7: took part",
    "MustBeRequestable": False,
    "MustBeOwnedByCaller": True,
    "MaxResults": 100,
}


def test_it_finds_the_qualification_on_a_later_page_without_creating_one(mturk_stub):
    client, stubber = mturk_stub
    name = "ICE Lab study 7: took part"
    stubber.add_response(
        "list_qualification_types",
        {"NumResults": 1, "NextToken": "p2", "QualificationTypes": [_qual(name + " (old)", "Q0")]},
        LIST_QUALS,
    )
    stubber.add_response(
        "list_qualification_types",
        {"NumResults": 1, "QualificationTypes": [_qual(name, QUAL)]},
        LIST_QUALS | {"NextToken": "p2"},
    )
    assert client.ensure_qualification_type(name=name, description="d") == QUAL


def test_it_creates_the_qualification_when_missing(mturk_stub):
    client, stubber = mturk_stub
    name = "ICE Lab study 7: took part"
    stubber.add_response("list_qualification_types", {"QualificationTypes": []}, LIST_QUALS)
    stubber.add_response(
        "create_qualification_type",
        {"QualificationType": _qual(name, QUAL)},
        {"Name": name, "Description": "Took part in study 7", "QualificationTypeStatus": "Active"},
    )
    assert client.ensure_qualification_type(name=name, description="Took part in study 7") == QUAL


def test_a_qualification_created_concurrently_is_found_after_the_refusal(mturk_stub):
    client, stubber = mturk_stub
    name = "ICE Lab study 7: took part"
    stubber.add_response("list_qualification_types", {"QualificationTypes": []}, LIST_QUALS)
    _error(stubber, "create_qualification_type", message="You have already created one")
    stubber.add_response(
        "list_qualification_types", {"QualificationTypes": [_qual(name, QUAL)]}, LIST_QUALS
    )
    assert client.ensure_qualification_type(name=name, description="d") == QUAL


def test_an_inactive_qualification_is_switched_back_on(mturk_stub):
    client, stubber = mturk_stub
    name = "ICE Lab study 7: took part"
    stubber.add_response(
        "list_qualification_types",
        {"QualificationTypes": [_qual(name, QUAL, "Inactive")]},
        LIST_QUALS,
    )
    stubber.add_response(
        "update_qualification_type",
        {"QualificationType": _qual(name, QUAL)},
        {"QualificationTypeId": QUAL, "QualificationTypeStatus": "Active"},
    )
    assert client.ensure_qualification_type(name=name, description="d") == QUAL


GRANT = {"QualificationTypeId": QUAL, "WorkerId": "A1WORKER", "IntegerValue": 1}


def test_it_grants_the_qualification_without_notifying_the_worker(mturk_stub):
    client, stubber = mturk_stub
    stubber.add_response(
        "associate_qualification_with_worker", {}, GRANT | {"SendNotification": False}
    )
    client.grant_qualification(qualification_type_id=QUAL, worker_id="A1WORKER")


def test_granting_again_is_a_success_once_mturk_confirms_the_worker_holds_it(mturk_stub):
    client, stubber = mturk_stub
    _error(stubber, "associate_qualification_with_worker", message="already granted")
    stubber.add_response(
        "get_qualification_score",
        {
            "Qualification": {
                "QualificationTypeId": QUAL,
                "WorkerId": "A1WORKER",
                "Status": "Granted",
            }
        },
        {"QualificationTypeId": QUAL, "WorkerId": "A1WORKER"},
    )
    client.grant_qualification(qualification_type_id=QUAL, worker_id="A1WORKER")


def test_a_refused_grant_the_worker_does_not_hold_is_an_error(mturk_stub):
    client, stubber = mturk_stub
    _error(stubber, "associate_qualification_with_worker", message="Worker does not exist")
    _error(
        stubber,
        "get_qualification_score",
        message="You requested a Qualification that does not exist.",
    )
    with pytest.raises(PlatformError, match="Worker does not exist"):
        client.grant_qualification(qualification_type_id=QUAL, worker_id="A1WORKER")


# --- assignments --------------------------------------------------------------------------


def _assignment(aid, worker, status="Submitted"):
    return {
        "AssignmentId": aid,
        "WorkerId": worker,
        "HITId": "3HITID",
        "AssignmentStatus": status,
        "AcceptTime": NOW,
        "SubmitTime": NOW,
        "Answer": "<QuestionFormAnswers/>",
    }


LIST_ASSIGNMENTS = {
    "HITId": "3HITID",
    "MaxResults": 100,
    "AssignmentStatuses": ["Submitted", "Approved", "Rejected"],
}


def test_it_lists_assignments_across_pages_and_stops_on_an_empty_page(mturk_stub):
    client, stubber = mturk_stub
    stubber.add_response(
        "list_assignments_for_hit",
        {
            "NextToken": "t1",
            "NumResults": 2,
            "Assignments": [_assignment("A1", "W1"), _assignment("A2", "W2", "Approved")],
        },
        LIST_ASSIGNMENTS,
    )
    stubber.add_response(
        "list_assignments_for_hit",
        {"NextToken": "t2", "NumResults": 1, "Assignments": [_assignment("A3", "W3", "Rejected")]},
        LIST_ASSIGNMENTS | {"NextToken": "t1"},
    )
    # MTurk can hand a NextToken with the last page; the empty page after it ends the loop.
    stubber.add_response(
        "list_assignments_for_hit",
        {"NextToken": "t3", "NumResults": 0, "Assignments": []},
        LIST_ASSIGNMENTS | {"NextToken": "t2"},
    )
    assignments = client.list_assignments(hit_id="3HITID")
    assert [(a.assignment_id, a.worker_id, a.status) for a in assignments] == [
        ("A1", "W1", "Submitted"),
        ("A2", "W2", "Approved"),
        ("A3", "W3", "Rejected"),
    ]
    assert assignments[0].submit_time == NOW


def test_it_refuses_an_unknown_assignment_status(mturk_stub):
    client, _ = mturk_stub
    with pytest.raises(ValueError, match="Returned"):
        client.list_assignments(hit_id="3HITID", statuses=["Submitted", "Returned"])


def test_it_approves_with_feedback(mturk_stub):
    client, stubber = mturk_stub
    stubber.add_response(
        "approve_assignment", {}, {"AssignmentId": "A1", "RequesterFeedback": "Thank you!"}
    )
    client.approve_assignment(assignment_id="A1", feedback="Thank you!")


def _get_assignment(stubber, status):
    stubber.add_response(
        "get_assignment", {"Assignment": _assignment("A1", "W1", status)}, {"AssignmentId": "A1"}
    )


def test_approving_an_approved_assignment_is_a_success(mturk_stub):
    client, stubber = mturk_stub
    _error(
        stubber,
        "approve_assignment",
        message="This operation can be called with a status of: Submitted",
    )
    _get_assignment(stubber, "Approved")
    client.approve_assignment(assignment_id="A1")


def test_approving_a_rejected_assignment_names_the_override(mturk_stub):
    client, stubber = mturk_stub
    _error(
        stubber,
        "approve_assignment",
        message="This operation can be called with a status of: Submitted",
    )
    _get_assignment(stubber, "Rejected")
    with pytest.raises(PlatformError, match="override_rejection=True"):
        client.approve_assignment(assignment_id="A1")
    stubber.add_response(
        "approve_assignment", {}, {"AssignmentId": "A1", "OverrideRejection": True}
    )
    client.approve_assignment(assignment_id="A1", override_rejection=True)


def test_a_service_fault_on_approval_is_not_taken_for_success(mturk_stub):
    client, stubber = mturk_stub
    _error(stubber, "approve_assignment", code="ServiceFault", status=500)
    with pytest.raises(PlatformError) as caught:  # and no get_assignment: nothing is queued
        client.approve_assignment(assignment_id="A1")
    assert caught.value.outcome_unknown


def test_it_rejects_with_the_feedback_the_worker_sees(mturk_stub):
    client, stubber = mturk_stub
    stubber.add_response(
        "reject_assignment",
        {},
        {"AssignmentId": "A1", "RequesterFeedback": "The attention checks were failed."},
    )
    client.reject_assignment(assignment_id="A1", feedback="The attention checks were failed.")


def test_rejecting_needs_feedback(mturk_stub):
    client, _ = mturk_stub
    with pytest.raises(ValueError, match="needs feedback"):
        client.reject_assignment(assignment_id="A1", feedback=" ")


def test_rejecting_a_rejected_assignment_is_a_success_and_an_approved_one_an_error(mturk_stub):
    client, stubber = mturk_stub
    _error(stubber, "reject_assignment")
    _get_assignment(stubber, "Rejected")
    client.reject_assignment(assignment_id="A1", feedback="why")
    _error(stubber, "reject_assignment")
    _get_assignment(stubber, "Approved")
    with pytest.raises(PlatformError, match="already approved"):
        client.reject_assignment(assignment_id="A1", feedback="why")


# --- bonuses ------------------------------------------------------------------------------


def test_it_sends_a_bonus_as_a_string_amount_with_the_token(mturk_stub):
    client, stubber = mturk_stub
    stubber.add_response(
        "send_bonus",
        {},
        {
            "WorkerId": "W1",
            "BonusAmount": "1.25",
            "AssignmentId": "A1",
            "Reason": "Above the accuracy threshold",
            "UniqueRequestToken": "t" * 64,
        },
    )
    client.send_bonus(
        worker_id="W1",
        assignment_id="A1",
        amount=Decimal("1.25"),
        reason="Above the accuracy threshold",
        unique_request_token="t" * 64,
    )


def test_it_lists_the_bonuses_paid_on_an_assignment(mturk_stub):
    client, stubber = mturk_stub
    paid = {
        "WorkerId": "W1",
        "BonusAmount": "1.25",
        "AssignmentId": "A1",
        "Reason": "r",
        "GrantTime": NOW,
    }
    stubber.add_response(
        "list_bonus_payments",
        {"NumResults": 1, "NextToken": "n", "BonusPayments": [paid]},
        {"AssignmentId": "A1", "MaxResults": 100},
    )
    stubber.add_response(
        "list_bonus_payments",
        {"NumResults": 0, "BonusPayments": []},
        {"AssignmentId": "A1", "MaxResults": 100, "NextToken": "n"},
    )
    [bonus] = client.list_bonuses(assignment_id="A1")
    assert (bonus.worker_id, bonus.amount) == ("W1", Decimal("1.25"))


# --- what an error says about whether MTurk acted ---------------------------------------------


def test_missing_credentials_are_named_before_anything_is_sent(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata look-up
    # A fresh session (boto3's default one caches credentials found by earlier tests), on a
    # loopback address: even if credentials were found, nothing would leave the machine.
    client = boto3.session.Session().client(
        "mturk", region_name="us-east-1", endpoint_url="https://127.0.0.1:9"
    )
    with pytest.raises(PlatformError, match="AWS_ACCESS_KEY_ID") as caught:
        MTurkClient(sandbox=True, client=client).approve_assignment(assignment_id="A1")
    assert caught.value.acted is False


@pytest.mark.parametrize(
    ("error", "acted"),
    [
        (lambda e: e.EndpointConnectionError(endpoint_url=ENDPOINTS[True]), False),
        (lambda e: e.ConnectTimeoutError(endpoint_url=ENDPOINTS[True]), False),
        (lambda e: e.ReadTimeoutError(endpoint_url=ENDPOINTS[True]), None),
        (lambda e: e.ConnectionClosedError(endpoint_url=ENDPOINTS[True]), None),
    ],
)
def test_network_failures_say_whether_the_request_could_have_arrived(error, acted):
    import botocore.exceptions

    from studies.integrations.mturk import _calling

    with pytest.raises(PlatformError) as caught, _calling("send_bonus"):
        raise error(botocore.exceptions)
    assert caught.value.acted is acted
