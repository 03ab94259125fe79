"""The study link /s/<slug>/: preview, start page, starting, resuming, closed and unknown studies."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from studies.models import Attempt, Event, Participant
from studies.services import study_close, study_pause

MTURK = {
    "assignmentId": "ASSIGN1",
    "hitId": "HIT1",
    "workerId": "WORKER1",
    "turkSubmitTo": "https://www.mturk.com",
}


def nothing_stored() -> bool:
    return not (Participant.objects.exists() or Attempt.objects.exists() or Event.objects.exists())


def test_an_mturk_preview_describes_the_task_and_creates_nothing(study, walker):
    params = {"assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "hitId": "HIT1"}
    page = walker.get(f"/s/{study.slug}/?{urlencode(params)}")
    assert page.status == 200 and "This is a preview" in page.html
    assert "<form" not in page.html
    posted = walker.post(f"/s/{study.slug}/", params)
    assert posted.status == 200 and "<form" not in posted.html
    assert nothing_stored()


def test_the_start_page_creates_nothing_and_its_form_starts_the_study(study, walker):
    url = f"/s/{study.slug}/?{urlencode(MTURK)}"
    page = walker.get(url)
    assert page.status == 200 and 'name="workerId" value="WORKER1"' in page.html
    assert nothing_stored()
    started = walker.post(f"/s/{study.slug}/", MTURK)
    participant = Participant.objects.get()
    assert started.status == 303
    assert started.location == f"/s/{study.slug}/p/{participant.url_token}/"
    assert (participant.platform, participant.external_id) == ("mturk", "WORKER1")


def test_a_returning_worker_is_sent_back_to_their_own_page(study, walker):
    first = walker.post(f"/s/{study.slug}/", MTURK).location
    again = walker.get(f"/s/{study.slug}/?{urlencode({**MTURK, 'assignmentId': 'ASSIGN2'})}")
    assert again.status == 303 and again.location == first
    assert Participant.objects.count() == 1
    assert sorted(Attempt.objects.values_list("attempt_id", flat=True)) == ["ASSIGN1", "ASSIGN2"]


def test_a_paused_study_resumes_its_participants_and_refuses_new_ones(study, walker):
    first = walker.post(f"/s/{study.slug}/", MTURK).location
    study_pause(study=study)
    assert walker.get(f"/s/{study.slug}/?{urlencode(MTURK)}").location == first
    other = {**MTURK, "workerId": "WORKER2"}
    assert walker.get(f"/s/{study.slug}/?{urlencode(other)}").status == 403
    assert walker.post(f"/s/{study.slug}/", other).status == 403
    assert walker.get(first).status == 200
    assert Participant.objects.count() == 1


def test_a_closed_study_admits_nobody_and_takes_no_answers(study, walker):
    url = walker.start(study)
    page = walker.get(url)
    study_close(study=study)
    assert walker.get(f"/s/{study.slug}/").status == 410
    assert walker.get(url).status == 410
    posted = walker.post(
        url,
        {"page": page.field("page"), "form_token": page.field("form_token"), "decision": "agree"},
    )
    assert posted.status == 410
    assert Participant.objects.get().page == 0


@pytest.mark.parametrize("slug", ["nope", "draft"])
def test_an_unknown_or_draft_study_is_not_found(make_study, walker, slug):
    make_study("draft", launch=False)
    page = walker.get(f"/s/{slug}/")
    assert page.status == 404 and "No such study" in page.html


def test_one_person_per_set_sees_the_screened_out_code(make_study, walker):
    first = make_study("first", exclusive_set="series", code_screened_out="SCREEN77")
    second = make_study("second", exclusive_set="series", code_screened_out="SCREEN77")
    params = {"PROLIFIC_PID": "PID1", "STUDY_ID": "S1", "SESSION_ID": "X1"}
    walker.post(f"/s/{first.slug}/", params)
    refused = walker.post(f"/s/{second.slug}/", params)
    assert refused.status == 403 and "SCREEN77" in refused.html
    assert "https://app.prolific.com/submissions/complete?cc=SCREEN77" in refused.html
    assert Participant.objects.count() == 1
