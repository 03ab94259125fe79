"""During the test tasks a training task can be opened again (in a new tab); each visit is
an Event. The review shows the training answer, never anything about the test trial."""

from __future__ import annotations

import pytest

from studies.models import Event, TrialResponse

from .participants import Person, entry_url

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_a_test_trial_reopens_a_training_trial_and_the_visit_is_logged(
    new_page, app_url, make_study, screenshot, phone
):
    device = "phone" if phone else "desktop"
    page = new_page(phone=phone)
    study = make_study()
    person = Person(page)
    person.start(entry_url(app_url, study))
    person.walk_to("choice:test:1")
    assert not Event.objects.filter(kind=Event.Kind.REVISIT).exists()
    screenshot(page, f"{device}-test-choice-with-training-links")
    participant = person.row()
    [training] = TrialResponse.objects.filter(participant=participant, phase="training")

    with page.expect_popup() as popup:
        page.get_by_role("navigation", name="Training tasks").get_by_role(
            "link", name="Training task 1"
        ).click()
    review = popup.value
    review.wait_for_load_state()
    screenshot(review, f"{device}-training-review")

    assert review.locator("h1").inner_text() == "Training task 1 (again)"
    feedback = review.locator(".feedback").inner_text()
    assert feedback.startswith(f"You chose row {training.chosen_position};")
    right = review.locator(".row.correct .row-head").inner_text()
    assert right.endswith("(the right answer)")
    assert review.locator("img").count() == 1 + 25
    [event] = Event.objects.filter(kind=Event.Kind.REVISIT)
    assert (event.participant_id, event.trial_id) == (participant.pk, training.trial_id)
    assert event.detail == {"training": 1}
    assert event.page == participant.page

    # The task itself did not move, and it can be answered after the review.
    review.close()
    page.reload()
    assert page.locator("h1").inner_text() == "Task 1 of 3"
    assert person.row().page == participant.page
    person.step()
    assert person.current() == "describe"
