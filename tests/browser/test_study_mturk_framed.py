"""The MTurk run as workers get it: inside MTurk's iframe, with no cookies at all.

The study allows framing by the MTurk worker sites only (CSP ``frame-ancestors``), so
the top page is served as ``https://workersandbox.mturk.com/...`` by a Playwright route
(nothing leaves the machine) and frames the study on ``http://127.0.0.1``: another
site. The context drops every cookie (Safari inside a third-party iframe). The
harness's own top site (``framed``, on localhost) is refused by the same policy.
"""

from __future__ import annotations

import html

import pytest

from studies.models import Participant, ParticipantStatus, TrialResponse

from .participants import MTURK_SANDBOX, Person, entry_url, fake_site, mturk_params

pytestmark = pytest.mark.browser


@pytest.fixture
def study(make_study):
    return make_study(platforms=["mturk"], allow_anonymous=False)


def mturk_top_page(study_url: str):
    """MTurk's HIT page stand-in: the study in a full-width iframe (as an ExternalQuestion)."""

    def body(visit) -> str:
        if visit.method == "POST":  # the study's externalSubmit form, posted from the frame
            return "<p id='fake-site'>HIT submitted</p>"
        return (
            "<p id='top'>MTurk worker site</p>"
            f"<iframe id='study' src='{html.escape(study_url, quote=True)}' "
            "style='border:0;width:100%;height:90vh'></iframe>"
        )

    return body


def test_the_run_works_inside_mturks_iframe_without_cookies(new_page, app_url, study, screenshot):
    page = new_page(no_cookies=True)
    study_url = entry_url(app_url, study, **mturk_params())
    mturk = fake_site(page, MTURK_SANDBOX, body=mturk_top_page(study_url))
    page.goto(f"{MTURK_SANDBOX}/mturk/preview?groupId=G1")
    frame = page.wait_for_selector("iframe#study").content_frame()
    frame.wait_for_load_state()
    assert frame.parent_frame == page.main_frame
    assert frame.url.startswith(app_url)  # the study: another site than the top page

    person = Person(frame)
    person.start("")
    person.walk_to("choice")
    screenshot(page, "framed-training-choice")
    person.finish()
    assert frame.evaluate("document.cookie") == ""
    assert page.context.cookies() == []
    with frame.expect_navigation():
        frame.get_by_role("button", name="Submit the HIT").click()

    participant = Participant.objects.get()
    assert participant.status == ParticipantStatus.COMPLETED
    posted = [visit for visit in mturk.visits if visit.method == "POST"]
    assert [visit.url for visit in posted] == [f"{MTURK_SANDBOX}/mturk/externalSubmit"]
    assert posted[0].form == {"assignmentId": ["ASSIGN0001"], "completion_code": ["DONE1234"]}
    assert frame.locator("#fake-site").inner_text() == "HIT submitted"
    n_trials = sum(len(participant.version.config["groups"][0][p]) for p in ("training", "test"))
    assert TrialResponse.objects.filter(participant=participant).count() == n_trials


def test_another_site_cannot_frame_the_study(new_page, app_url, study, framed):
    page = new_page(no_cookies=True)
    frame = framed(page, entry_url(app_url, study, **mturk_params()))
    # Chromium blocks the frame (CSP frame-ancestors): no start button in it.
    assert frame.locator("button").count() == 0
    assert not frame.url.startswith(app_url)
    assert not Participant.objects.exists()
