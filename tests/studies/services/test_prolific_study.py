"""Syncing a study with Prolific (recorded responses): returned and timed-out places are freed.

The recordings list six submissions over two pages: AWAITING REVIEW (…01), RETURNED
(…02), ACTIVE (…03), TIMED-OUT (…04), APPROVED (…05) and an unknown "ON HOLD" (…06).
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from jobs import services as jobs
from jobs.models import Job
from studies.integrations.prolific import ProlificClient
from studies.models import Event, ParticipantStatus
from studies.services.assignment import group_fill
from studies.services.prolific_study import study_prolific_study_ids, study_prolific_sync
from tests.studies.integrations.doubles import API, STUDY_ID

from .conftest import enter, finish

PAGE1 = f"{API}studies/{STUDY_ID}/submissions/"
PAGE2 = f"{PAGE1}?page=2"
PERSON = "5f0c1a2b3c4d5e6f708192{:02d}"


@pytest.fixture
def prolific_study(make_study):
    return make_study(platforms=["prolific"], platform_settings={"prolific_study_id": STUDY_ID})


@pytest.fixture
def people(prolific_study):
    """Participants 1-6 of the recordings; 1 and 5 completed in ICE Lab, the others started."""
    found = {}
    for number in range(1, 7):
        found[number] = enter(
            prolific_study,
            platform="prolific",
            person=PERSON.format(number),
            attempt=f"64f1a2b3c4d5e6f708192a{number:02d}",
            platform_study_id=STUDY_ID,
        )
    for number in (1, 5):
        found[number] = finish(found[number], [True])
    return found


def _queue_pages(transport):
    transport.add("GET", PAGE1, "study_submissions_page1.json")
    transport.add("GET", PAGE2, "study_submissions_page2.json")


def _statuses(people):
    return {n: type(p).objects.get(pk=p.pk).status for n, p in people.items()}


def test_returned_and_timed_out_participants_are_freed_and_unknown_statuses_reported(
    prolific_study, people, transport
):
    client = ProlificClient(token="t0k", transport=transport)
    version = prolific_study.current_version
    now = timezone.now()
    held_before = sum(group_fill(version=version, now=now).values())
    _queue_pages(transport)

    result = study_prolific_sync(study=prolific_study, client=client)

    assert sorted(result["freed"]) == [PERSON.format(2), PERSON.format(4)]
    assert result["unknown_statuses"] == ["ON HOLD"]
    assert result["counts"] == {
        "AWAITING REVIEW": 1,
        "RETURNED": 1,
        "ACTIVE": 1,
        "TIMED-OUT": 1,
        "APPROVED": 1,
        "ON HOLD": 1,
    }
    assert _statuses(people) == {
        1: ParticipantStatus.COMPLETED,
        2: ParticipantStatus.RETURNED,
        3: ParticipantStatus.STARTED,
        4: ParticipantStatus.TIMED_OUT,
        5: ParticipantStatus.COMPLETED,
        6: ParticipantStatus.STARTED,  # unknown status: not acted on
    }
    # Their slots are free for the balanced assignment; their rows are kept and flagged.
    assert sum(group_fill(version=version, now=now).values()) == held_before - 2
    returned = type(people[2]).objects.get(pk=people[2].pk)
    assert "RETURNED" in returned.exclusion_rule and returned.attempts.count() == 1
    assert Event.objects.filter(participant=returned, kind=Event.Kind.STATUS).count() == 1

    # A second sync sees the same submissions and changes nothing.
    _queue_pages(transport)
    again = study_prolific_sync(study=prolific_study, client=client)
    assert again["freed"] == [] and sorted(again["kept"]) == [PERSON.format(2), PERSON.format(4)]
    assert _statuses(people)[2] == ParticipantStatus.RETURNED
    assert Event.objects.filter(participant=returned, kind=Event.Kind.STATUS).count() == 1


def test_a_completed_participant_reported_returned_stays_completed(prolific_study, transport):
    # Statuses only move forward: someone who finished in ICE Lab keeps their completion.
    done = enter(
        prolific_study,
        platform="prolific",
        person=PERSON.format(2),
        attempt="64f1a2b3c4d5e6f708192a02",
        platform_study_id=STUDY_ID,
    )
    finish(done, [True])
    _queue_pages(transport)
    result = study_prolific_sync(
        study=prolific_study, client=ProlificClient(token="t0k", transport=transport)
    )
    assert result["freed"] == [] and PERSON.format(2) in result["kept"]
    done.refresh_from_db()
    assert done.status == ParticipantStatus.COMPLETED


def test_the_prolific_study_id_comes_from_settings_or_from_the_arrivals(make_study):
    study = make_study(platforms=["prolific"])
    with pytest.raises(ValidationError, match="prolific_study_id"):
        study_prolific_sync(study=study, client=ProlificClient(token="t0k"))
    enter(
        study,
        platform="prolific",
        person=PERSON.format(1),
        attempt="S1",
        platform_study_id=STUDY_ID,
    )
    assert study_prolific_study_ids(study=study) == [STUDY_ID]


def test_a_refused_request_fails_the_sync_job_with_the_reason(
    prolific_study, people, transport, monkeypatch
):
    monkeypatch.setattr(jobs, "job_dispatch", lambda *, job: None)
    transport.add("GET", PAGE1, "error_401.json", status=401)
    monkeypatch.setattr(
        ProlificClient, "from_settings", lambda: ProlificClient(token="t0k", transport=transport)
    )
    job = jobs.job_run(
        jobs.job_submit(kind="prolific_sync", params={"study": prolific_study.pk}).pk
    )
    assert job.status == Job.Status.FAILED and "PROLIFIC_API_TOKEN" in job.step
    assert _statuses(people)[2] == ParticipantStatus.STARTED


def test_the_sync_job_frees_the_places(prolific_study, people, transport, monkeypatch):
    monkeypatch.setattr(jobs, "job_dispatch", lambda *, job: None)
    _queue_pages(transport)
    monkeypatch.setattr(
        ProlificClient, "from_settings", lambda: ProlificClient(token="t0k", transport=transport)
    )
    job = jobs.job_run(
        jobs.job_submit(kind="prolific_sync", params={"study": prolific_study.pk}).pk
    )
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert sorted(job.result["freed"]) == [PERSON.format(2), PERSON.format(4)]
