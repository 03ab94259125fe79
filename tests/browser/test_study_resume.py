"""Reloading, coming back, the back button and double clicks: the server keeps the position,
and every trial is stored once."""

from __future__ import annotations

import pytest

from studies.models import Description, Participant, ParticipantStatus, TrialResponse

from .participants import MTURK_SANDBOX, Person, entry_url, fake_site, mturk_params

pytestmark = pytest.mark.browser


def n_trials(participant: Participant) -> int:
    group = next(g for g in participant.version.config["groups"] if g["id"] == participant.group_id)
    return len(group["training"]) + len(group["test"])


def assert_stored_once(participant: Participant) -> None:
    responses = TrialResponse.objects.filter(participant=participant)
    assert responses.count() == n_trials(participant)
    assert responses.values("trial").distinct().count() == n_trials(participant)
    assert Description.objects.filter(response__participant=participant).count() == 5 * (
        n_trials(participant)
    )


def centre(locator) -> tuple[float, float]:
    """Where to click ``locator`` in the viewport."""
    box = locator.bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_a_reload_or_a_new_visit_resumes_at_the_same_step(new_page, app_url, make_study):
    study = make_study(platforms=["mturk"], allow_anonymous=False)
    page = new_page()
    fake_site(page, MTURK_SANDBOX)
    person = Person(page)
    person.start(entry_url(app_url, study, **mturk_params()))
    person.walk_to("choice:test:2")
    position = person.row().page
    heading = page.locator("h1").inner_text()
    assert heading == "Task 2 of 3"
    page.locator("input[name=choice]").first.check()  # chosen, not sent

    page.reload()
    assert page.locator("h1").inner_text() == heading
    assert person.row().page == position
    assert not page.locator("input[name=choice]:checked").count()

    # The worker closes the tab and opens the HIT again later: a new browser, no cookies.
    again = new_page(no_cookies=True)
    again.goto(entry_url(app_url, study, **mturk_params()))
    assert again.url == page.url  # straight back to their own page
    assert again.locator("h1").inner_text() == heading
    assert Participant.objects.count() == 1
    assert person.row().page == position

    Person(again).finish()
    participant = person.row()
    assert participant.status == ParticipantStatus.COMPLETED
    assert_stored_once(participant)


def test_the_back_button_shows_the_current_page_and_stores_nothing(page, app_url, make_study):
    study = make_study()
    person = Person(page)
    person.start(entry_url(app_url, study))
    person.walk_to("choice")
    person.step()  # the training choice: now its description page, with the answer
    assert person.current() == "describe"
    [response] = TrialResponse.objects.all()

    page.go_back()
    # Pages are not cached (no-store): the browser asks again and gets the current page.
    assert person.current() == "describe"
    assert "describe" in page.locator("h1").inner_text()
    assert page.locator(".feedback").is_visible()
    if page.locator("input[name=choice]").count():  # a browser that kept the old form
        page.locator("input[name=choice]").last.check()
        person.submit("Choose")
    assert list(TrialResponse.objects.all()) == [response]

    person.step()  # the description
    page.go_back()
    page.go_back()
    assert person.current() == "choice"
    assert page.locator("h1").inner_text() == "Task 1 of 3"
    person.finish()
    assert_stored_once(person.row())


@pytest.mark.parametrize("javascript", [True, False], ids=["script", "plain-html"])
def test_double_clicks_store_every_answer_once(new_page, app_url, make_study, javascript):
    """The whole path, every button double-clicked; without the script, plain HTML forms."""
    study = make_study()
    page = new_page(java_script_enabled=javascript)
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    person = Person(page, double_click=True)
    person.start(entry_url(app_url, study))
    person.finish()

    participant = person.row()
    assert participant.status == ParticipantStatus.COMPLETED
    assert page.locator(".code").inner_text() == "DONE1234"
    assert_stored_once(participant)
    n_pages = 2 + 2 * n_trials(participant) + 2  # consent, instructions, trials, 2 forms
    # The start form, then one per page: Chromium sends one submission per double click
    # (the second replaces the first before it leaves), so the server sees no repeat here;
    # the next test makes one reach it.
    assert len(posts) == 1 + n_pages


@pytest.mark.parametrize("javascript", [True, False], ids=["script", "plain-html"])
def test_a_second_click_while_the_answer_is_on_its_way_stores_nothing(
    new_page, app_url, make_study, javascript
):
    """The answer reaches the server; its reply is held back while the participant, still
    on the old page, picks another row and clicks again (a slow connection)."""
    study = make_study()
    page = new_page(java_script_enabled=javascript)
    page.set_viewport_size({"width": 1280, "height": 2400})  # no scrolling between the clicks
    person = Person(page)
    person.start(entry_url(app_url, study))
    person.walk_to("choice")
    right = person.right_row()
    wrong = right % 5 + 1
    posts, held = [], []

    def hold_first_reply(route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        posts.append(route.request.post_data)
        if held:
            route.continue_()
        else:  # the server stores the answer now; the browser waits for the reply
            held.append((route, route.fetch(max_redirects=0)))

    page.route(f"{app_url}/s/**", hold_first_reply)
    page.locator(f"input[name=choice][value='{right}']").check()
    button = page.get_by_role("button", name="Choose")
    # Clicks by position: Playwright's own actions would wait for the pending navigation.
    other = page.locator(f"input[name=choice][value='{wrong}']")
    other_at, button_at = centre(other), centre(button)
    button.click(no_wait_after=True)
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(25)
    route, reply = held[0]
    assert reply.status == 303
    page.mouse.click(*other_at)
    page.mouse.click(*button_at)
    page.wait_for_timeout(200)  # time for a second request, if any, to leave

    if javascript:  # the script disabled the button: nothing more was sent
        with page.expect_navigation():
            route.fulfill(response=reply)
    else:  # the second form replaced the first navigation; the server got both
        page.wait_for_url("**/p/**", wait_until="load")
        page.wait_for_selector(".feedback")
    assert len(posts) == (1 if javascript else 2)
    assert f"choice={right}" in posts[0]
    assert javascript or f"choice={wrong}" in posts[1]

    [response] = TrialResponse.objects.all()
    assert response.chosen_position == right
    assert person.current() == "describe"
    assert page.locator(".feedback").inner_text().startswith(f"You chose row {right}.")
