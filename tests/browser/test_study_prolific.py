"""A Prolific participant's whole run, ending in the redirect to Prolific with the code.

Prolific's site is never reached: a Playwright route answers app.prolific.com locally and
records the navigation; the study's redirect there is recorded on its way to the browser
(Playwright cannot route a redirect's target: see ``hold_redirects_away``).
"""

from __future__ import annotations

import pytest

from studies.models import Attempt, Participant, ParticipantStatus

from .participants import PROLIFIC_SITE, Person, entry_url, fake_site, hold_redirects_away

pytestmark = pytest.mark.browser

PROLIFIC = {"PROLIFIC_PID": "5f0c3a9b8e1d2c4a6b7e8f90", "STUDY_ID": "S1", "SESSION_ID": "SESS1"}


def test_a_prolific_participant_is_sent_back_to_prolific_with_the_code(page, app_url, make_study):
    study = make_study(platforms=["prolific"], allow_anonymous=False, code_completed="C1A2B3")
    prolific = fake_site(page, PROLIFIC_SITE)
    redirects = hold_redirects_away(page, app_url)
    person = Person(page)
    person.start(entry_url(app_url, study, **PROLIFIC))
    person.finish()

    # The last answer is answered with a 303 to Prolific's completion URL, with the code.
    assert redirects == [(303, f"{PROLIFIC_SITE}/submissions/complete?cc=C1A2B3")]
    page.wait_for_url(f"{PROLIFIC_SITE}/**")
    assert page.url == f"{PROLIFIC_SITE}/submissions/complete?cc=C1A2B3"
    [visit] = prolific.visits
    assert (visit.method, visit.query) == ("GET", {"cc": ["C1A2B3"]})
    assert page.locator("#fake-site").is_visible()
    participant = Participant.objects.get()
    assert (participant.status, participant.completion_code) == (
        ParticipantStatus.COMPLETED,
        "C1A2B3",
    )
    assert participant.external_id == PROLIFIC["PROLIFIC_PID"]
    assert Attempt.objects.get(participant=participant).attempt_id == "SESS1"

    # Coming back to the study page shows the code and the way back again, nothing more.
    page.goto(f"{app_url}/s/{study.slug}/p/{participant.url_token}/")
    assert page.locator(".code").inner_text() == "C1A2B3"
    assert page.get_by_role("link", name="Go back to Prolific").get_attribute("href") == (
        f"{PROLIFIC_SITE}/submissions/complete?cc=C1A2B3"
    )
