"""An MTurk worker's whole run in a real browser, and MTurk's preview.

MTurk's site is never reached: its externalSubmit endpoint (``turkSubmitTo`` must be an
MTurk worker site) is answered by a Playwright route that records the POST.
"""

from __future__ import annotations

import pytest

from studies.models import Attempt, Event, Participant, ParticipantStatus, TrialResponse

from .participants import MTURK_SANDBOX, Person, entry_url, fake_site, mturk_params

pytestmark = pytest.mark.browser


@pytest.fixture
def study(make_study):
    return make_study(platforms=["mturk"], allow_anonymous=False)


def test_a_worker_runs_the_study_and_submits_the_assignment_to_mturk(
    page, app_url, study, screenshot
):
    mturk = fake_site(page, MTURK_SANDBOX)
    person = Person(page, shoot=lambda name: screenshot(page, f"desktop-{name}"))
    page.goto(entry_url(app_url, study, **mturk_params()))
    screenshot(page, "desktop-start")
    person.start("")
    person.finish()

    participant = Participant.objects.get()
    assert participant.status == ParticipantStatus.COMPLETED
    assert participant.completion_code == "DONE1234"
    assert page.locator(".code").inner_text() == "DONE1234"
    screenshot(page, "desktop-completion")
    with page.expect_navigation():
        page.get_by_role("button", name="Submit the HIT").click()

    [submitted] = mturk.visits
    assert submitted.method == "POST"
    assert submitted.url == f"{MTURK_SANDBOX}/mturk/externalSubmit"
    assert submitted.form == {"assignmentId": ["ASSIGN0001"], "completion_code": ["DONE1234"]}
    assert page.locator("#fake-site").is_visible()
    attempt = Attempt.objects.get(participant=participant)
    assert (attempt.attempt_id, attempt.turk_submit_to) == ("ASSIGN0001", MTURK_SANDBOX)
    n_trials = len(participant.version.config["groups"][0]["training"]) + 3
    assert TrialResponse.objects.filter(participant=participant).count() == n_trials


def test_the_preview_describes_the_task_offers_no_start_and_stores_nothing(
    page, app_url, study, screenshot
):
    preview = {
        "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE",
        "hitId": "HIT0001",
        "turkSubmitTo": MTURK_SANDBOX,
    }
    page.goto(entry_url(app_url, study, **preview))
    screenshot(page, "desktop-mturk-preview")

    assert page.get_by_role("heading", name=study.title).is_visible()
    assert "A study about explanations" in page.inner_text("main")
    assert "This is a preview" in page.inner_text(".notice")
    assert page.locator("form, button, input, a").count() == 0
    assert not Participant.objects.exists()
    assert not Attempt.objects.exists()
    assert not Event.objects.exists()
