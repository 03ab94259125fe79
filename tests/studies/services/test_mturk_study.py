"""A study on MTurk: the qualification granted by a job after a worker starts, HITs, approvals.

MTurk is botocore's Stubber: every request the services send is checked, and a request
the test did not queue fails it.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from jobs import services as jobs
from jobs.models import Job
from studies.integrations.mturk import MTurkClient, external_question_xml
from studies.models import MTurkHIT, Study
from studies.services import mturk_study as mturk_services
from studies.services.mturk_study import (
    GRANT_JOB,
    hit_request_token,
    participant_mturk_grant,
    participant_mturk_grant_submit,
    study_mturk_approve,
    study_mturk_create_hit,
    study_mturk_setup,
)

from .conftest import enter

QUAL = "3QUALTYPEICELABSTUDY00000000AB"
NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
MTURK_PARAMS = {
    "assignmentId": "3ASSIGN1",
    "hitId": "3HITID",
    "workerId": "A1WORKER",
    "turkSubmitTo": "https://workersandbox.mturk.com",
}
GRANT = {
    "QualificationTypeId": QUAL,
    "WorkerId": "A1WORKER",
    "IntegerValue": 1,
    "SendNotification": False,
}
HIT_SETTINGS = {"mturk_hit": {"reward": "2.50", "max_assignments": 9, "keywords": ["image"]}}


def _error(stubber, method, code="RequestError", message="refused", status=400):
    stubber.add_client_error(
        method, service_error_code=code, service_message=message, http_status_code=status
    )


@pytest.fixture
def mturk_study(make_study):
    settings = {"mturk_qualification_type_id": QUAL, **HIT_SETTINGS}
    return make_study(platforms=["mturk"], platform_settings=settings, time_limit_minutes=30)


@pytest.fixture
def uses_stub(mturk_stub, monkeypatch):
    """The job's handler builds its client from settings: hand it the stubbed one instead."""
    client, stubber = mturk_stub
    monkeypatch.setattr(MTurkClient, "from_settings", lambda: client)
    monkeypatch.setattr(mturk_services, "GRANT_RETRY_PAUSE_S", 0.0)
    return client, stubber


@pytest.fixture
def dispatched(monkeypatch):
    """Job ids handed to a worker; none runs by itself (the test runs them with job_run)."""
    seen: list[int] = []
    monkeypatch.setattr(jobs, "job_dispatch", lambda *, job: seen.append(job.pk))
    return seen


# --- the qualification ------------------------------------------------------------------


def test_setup_finds_or_makes_the_qualification_and_records_it(make_study, mturk_stub):
    study = make_study(platforms=["mturk"])
    client, stubber = mturk_stub
    name = f"ICE Lab {study.slug}: took part"
    stubber.add_response(
        "list_qualification_types",
        {"QualificationTypes": []},
        {"Query": name, "MustBeRequestable": False, "MustBeOwnedByCaller": True, "MaxResults": 100},
    )
    stubber.add_response(
        "create_qualification_type",
        {"QualificationType": {"QualificationTypeId": QUAL, "Name": name}},
    )
    assert study_mturk_setup(study=study, client=client) == QUAL
    study.refresh_from_db()
    assert study.mturk_qualification_type_id == QUAL
    # The id is kept outside the frozen configuration: recording it made no new version.
    assert study.current_version.number == 1 and study.versions.count() == 1


def test_setup_uses_a_qualification_named_in_the_platform_settings(mturk_study, mturk_stub):
    client, _ = mturk_stub  # no request queued: MTurk must not be called
    assert study_mturk_setup(study=mturk_study, client=client) == QUAL


def test_a_workers_start_queues_exactly_one_grant_after_commit(
    mturk_study, walker, django_capture_on_commit_callbacks, dispatched
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        url = walker.start(mturk_study, MTURK_PARAMS)
        assert not Job.objects.exists()  # nothing is queued before the start commits
    assert len(callbacks) >= 1
    grants = Job.objects.filter(kind=GRANT_JOB)
    assert grants.count() == 1 and dispatched == [grants.get().pk]
    participant = mturk_study.participants.get()
    assert grants.get().params == {"participant": participant.pk}
    # Reloading the page and arriving again while the grant is queued add no second job.
    with django_capture_on_commit_callbacks(execute=True):
        walker.get(url)
        walker.post(f"/s/{mturk_study.slug}/", MTURK_PARAMS)
    assert Job.objects.filter(kind=GRANT_JOB).count() == 1


def test_a_failure_to_queue_the_grant_never_breaks_the_start(
    mturk_study, walker, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    def broken(**kwargs):
        raise RuntimeError("database of jobs unavailable")

    monkeypatch.setattr(mturk_services, "participant_mturk_grant_submit", broken)
    with django_capture_on_commit_callbacks(execute=True):
        url = walker.start(mturk_study, MTURK_PARAMS)
    assert walker.get(url).status == 200
    assert mturk_study.participants.count() == 1
    assert "could not queue the MTurk grant" in caplog.text


def test_no_grant_for_a_study_without_a_qualification_or_for_prolific(
    make_study, django_capture_on_commit_callbacks, dispatched
):
    study = make_study(platforms=["mturk", "prolific"])
    with django_capture_on_commit_callbacks(execute=True):
        enter(study, platform="mturk", person="A1WORKER", attempt="3ASSIGN1")
        enter(study, platform="prolific", person="5f0c1a2b3c4d5e6f70819201", attempt="S1")
    assert not Job.objects.exists()


def test_the_grant_job_calls_mturk_and_a_repeat_is_harmless(
    mturk_study, uses_stub, django_capture_on_commit_callbacks, dispatched
):
    client, stubber = uses_stub
    with django_capture_on_commit_callbacks(execute=True):
        participant = enter(mturk_study, platform="mturk", person="A1WORKER", attempt="3ASSIGN1")
    job = Job.objects.get(kind=GRANT_JOB)
    stubber.add_response("associate_qualification_with_worker", {}, GRANT)
    job = jobs.job_run(job.pk)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result == {"worker": "A1WORKER", "qualification": QUAL, "tries": 1}
    # Done: a later arrival queues nothing, and running the job again calls nobody.
    assert participant_mturk_grant_submit(participant=participant) is None
    assert jobs.job_run(job.pk).status == Job.Status.SUCCEEDED
    # Granting again anyway: MTurk refuses, confirms the worker holds it, and that is success.
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
    assert participant_mturk_grant(participant=participant, client=client)["tries"] == 1


def test_a_failed_grant_is_recorded_on_the_job_and_queued_again_on_the_next_arrival(
    mturk_study, uses_stub, walker, django_capture_on_commit_callbacks, dispatched
):
    _, stubber = uses_stub
    with django_capture_on_commit_callbacks(execute=True):
        walker.start(mturk_study, MTURK_PARAMS)
    first = Job.objects.get(kind=GRANT_JOB)
    # MTurk fails on its side three times: retried inside the job, then recorded as failed.
    for _ in range(3):
        _error(stubber, "associate_qualification_with_worker", "ServiceFault", "busy", 500)
    first = jobs.job_run(first.pk)
    assert first.status == Job.Status.FAILED
    assert "busy" in first.error and "A1WORKER" in first.step
    # The participant's page never saw any of it.
    participant = mturk_study.participants.get()
    assert walker.get(f"/s/{mturk_study.slug}/p/{participant.url_token}/").status == 200
    # The worker comes back: a new grant job is queued, and this time MTurk answers.
    with django_capture_on_commit_callbacks(execute=True):
        walker.post(f"/s/{mturk_study.slug}/", MTURK_PARAMS)
    second = Job.objects.get(kind=GRANT_JOB, status=Job.Status.QUEUED)
    assert second.pk != first.pk
    stubber.add_response("associate_qualification_with_worker", {}, GRANT)
    assert jobs.job_run(second.pk).status == Job.Status.SUCCEEDED


def test_a_refused_grant_is_not_retried_inside_the_job(mturk_study, uses_stub, dispatched):
    client, stubber = uses_stub
    participant = enter(mturk_study, platform="mturk", person="A1WORKER", attempt="3ASSIGN1")
    _error(stubber, "associate_qualification_with_worker", message="Worker does not exist")
    _error(stubber, "get_qualification_score", message="no such qualification")
    with pytest.raises(ValidationError, match="Worker does not exist"):
        participant_mturk_grant(participant=participant, client=client)


# --- HITs --------------------------------------------------------------------------------


def _hit_response(hit_id="3HITID"):
    return {
        "HIT": {
            "HITId": hit_id,
            "HITTypeId": "3HITTYPE",
            "HITStatus": "Assignable",
            "MaxAssignments": 9,
            "Expiration": NOW,
        }
    }


def test_it_creates_the_hit_once_per_batch_and_records_it(mturk_study, mturk_stub, settings):
    settings.ICELAB_PUBLIC_URL = "https://icelab.example.org/"
    client, stubber = mturk_stub
    token = hit_request_token(study=mturk_study, version_number=1, batch=1, sandbox=True)
    assert len(token) == 64
    url = f"https://icelab.example.org/s/{mturk_study.slug}/"
    stubber.add_response(
        "create_hit",
        _hit_response(),
        {
            "Title": mturk_study.title,
            "Description": mturk_study.description or mturk_study.title,
            "Keywords": "image",
            "Reward": "2.50",
            "MaxAssignments": 9,
            "AssignmentDurationInSeconds": 30 * 60 + 600,
            "LifetimeInSeconds": 3 * 24 * 3600,
            "Question": external_question_xml(url),
            "QualificationRequirements": [
                {
                    "QualificationTypeId": QUAL,
                    "Comparator": "DoesNotExist",
                    "ActionsGuarded": "DiscoverPreviewAndAccept",
                }
            ],
            "UniqueRequestToken": token,
        },
    )
    hit = study_mturk_create_hit(study=mturk_study, client=client)
    assert (hit.hit_id, hit.batch, hit.sandbox, hit.question_url) == ("3HITID", 1, True, url)
    # A retry of the same batch returns the recorded HIT without calling MTurk.
    assert study_mturk_create_hit(study=mturk_study, client=client).pk == hit.pk
    assert MTurkHIT.objects.count() == 1
    # Another batch has another token.
    other = hit_request_token(study=mturk_study, version_number=1, batch=2, sandbox=True)
    live = hit_request_token(study=mturk_study, version_number=1, batch=1, sandbox=False)
    assert len({token, other, live}) == 3


def test_a_retry_after_a_lost_answer_is_refused_with_a_clear_message(
    mturk_study, mturk_stub, settings
):
    settings.ICELAB_PUBLIC_URL = "https://icelab.example.org"
    client, stubber = mturk_stub
    _error(stubber, "create_hit", message="The token has already been used")
    with pytest.raises(ValidationError, match="find it on the requester site"):
        study_mturk_create_hit(study=mturk_study, client=client)
    assert not MTurkHIT.objects.exists()


@pytest.mark.parametrize(
    ("base", "message"),
    [
        ("http://icelab.example.org", "not https"),
        ("", "ICELAB_PUBLIC_URL is not set"),
    ],
)
def test_it_refuses_an_address_that_is_not_https_before_calling_mturk(
    mturk_study, mturk_stub, settings, base, message
):
    settings.ICELAB_PUBLIC_URL = base
    client, _ = mturk_stub
    with pytest.raises(ValidationError, match=message):
        study_mturk_create_hit(study=mturk_study, client=client)


def test_it_refuses_a_study_without_a_reward_or_not_on_mturk(make_study, mturk_stub, settings):
    settings.ICELAB_PUBLIC_URL = "https://icelab.example.org"
    client, _ = mturk_stub
    no_reward = make_study(platforms=["mturk"], platform_settings={})
    with pytest.raises(ValidationError, match='"reward"'):
        study_mturk_create_hit(study=no_reward, client=client)
    prolific = make_study("on-prolific", platforms=["prolific"])
    with pytest.raises(ValidationError, match="does not admit MTurk"):
        study_mturk_create_hit(study=prolific, client=client)


# --- approvals ---------------------------------------------------------------------------


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


LIST = {
    "HITId": "3HITID",
    "MaxResults": 100,
    "AssignmentStatuses": ["Submitted", "Approved", "Rejected"],
}


def test_it_approves_only_completed_participants_across_pages(mturk_study, mturk_stub):
    from .conftest import finish

    client, stubber = mturk_stub
    MTurkHIT.objects.create(
        study=mturk_study,
        version=mturk_study.current_version,
        hit_id="3HITID",
        hit_type_id="3HITTYPE",
        unique_request_token="t" * 64,
        sandbox=True,
        question_url="https://icelab.example.org/s/x/",
        max_assignments=9,
        reward="2.50",
    )
    done = enter(
        mturk_study, platform="mturk", person="W1", attempt="A1", platform_study_id="3HITID"
    )
    finish(done, [True])
    enter(mturk_study, platform="mturk", person="W2", attempt="A2")  # still started
    excluded = enter(mturk_study, platform="mturk", person="W3", attempt="A3")
    finish(excluded, [False], status="excluded")
    approved = enter(mturk_study, platform="mturk", person="W4", attempt="A4")
    finish(approved, [True])
    stubber.add_response(
        "list_assignments_for_hit",
        {
            "NextToken": "t1",
            "NumResults": 2,
            "Assignments": [_assignment("A1", "W1"), _assignment("A2", "W2")],
        },
        LIST,
    )
    stubber.add_response(
        "list_assignments_for_hit",
        {
            "NumResults": 3,
            "Assignments": [
                _assignment("A3", "W3"),
                _assignment("A4", "W4", "Approved"),
                _assignment("A9", "W1"),  # W1's other assignment was never their attempt
            ],
        },
        LIST | {"NextToken": "t1"},
    )
    stubber.add_response(
        "approve_assignment",
        {},
        {"AssignmentId": "A1", "RequesterFeedback": "Thank you for taking part."},
    )
    result = study_mturk_approve(study=mturk_study, client=client)
    assert result == {"approved": 1, "already_approved": 1, "left": 3, "errors": []}


def test_approving_again_is_a_success(mturk_study, mturk_stub):
    from .conftest import finish

    client, stubber = mturk_stub
    MTurkHIT.objects.create(
        study=mturk_study,
        version=mturk_study.current_version,
        hit_id="3HITID",
        hit_type_id="3HITTYPE",
        unique_request_token="t" * 64,
        sandbox=True,
        question_url="https://icelab.example.org/s/x/",
        max_assignments=9,
        reward="2.50",
    )
    finish(enter(mturk_study, platform="mturk", person="W1", attempt="A1"), [True])
    # MTurk still lists it as Submitted, but it was approved meanwhile: the refusal is checked.
    stubber.add_response(
        "list_assignments_for_hit",
        {"NumResults": 1, "Assignments": [_assignment("A1", "W1")]},
        LIST,
    )
    _error(stubber, "approve_assignment", message="status of: Submitted")
    stubber.add_response(
        "get_assignment",
        {"Assignment": _assignment("A1", "W1", "Approved")},
        {"AssignmentId": "A1"},
    )
    assert study_mturk_approve(study=mturk_study, client=client)["approved"] == 1


def test_approving_a_study_without_hits_says_so(mturk_study, mturk_stub):
    client, _ = mturk_stub
    assert Study.objects.filter(pk=mturk_study.pk).exists()
    with pytest.raises(ValidationError, match="no HITs"):
        study_mturk_approve(study=mturk_study, client=client)
