"""Keyboard only: consent, a trial's choice and its descriptions with Tab, Space and Enter,
with the focus visible on every control it reaches."""

from __future__ import annotations

import pytest

from studies.models import Description, TrialResponse

from .participants import Person, entry_url

pytestmark = pytest.mark.browser

FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {
    tag: el.tagName.toLowerCase(), type: el.type || "", name: el.name || "",
    value: el.value || "", text: (el.innerText || "").trim(),
    checked: !!el.checked, outline: style.outlineStyle, outlineWidth: style.outlineWidth,
  };
}"""


def focused(page) -> dict:
    return page.evaluate(FOCUSED)


def tab_to(page, accept, *, limit: int = 60) -> dict:
    """Press Tab until ``accept(focused element)``; every stop must show a focus ring."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        element = focused(page)
        assert element["tag"] == "body" or (
            element["outline"] != "none" and element["outlineWidth"] != "0px"
        ), f"no visible focus on {element}"
        if accept(element):
            return element
    raise AssertionError("Tab never reached the control")


def test_a_trial_can_be_answered_with_the_keyboard_only(page, app_url, make_study, screenshot):
    study = make_study()
    page.goto(entry_url(app_url, study))
    tab_to(page, lambda e: e["tag"] == "button" and e["text"] == "Start")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    person = Person(page)

    tab_to(page, lambda e: e["text"] == "I agree and want to take part")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tab_to(page, lambda e: e["text"] == "Start the training")
    with page.expect_navigation():
        page.keyboard.press("Space")
    assert person.current() == "choice"

    # Tab reaches the rows' radio group (at row 1), Space picks it, Tab moves on to the
    # button and Enter sends the form.
    radio = tab_to(page, lambda e: e["name"] == "choice")
    assert radio["value"] == "1"
    page.keyboard.press("Space")
    assert focused(page)["checked"]
    screenshot(page, "desktop-keyboard-choice")
    tab_to(page, lambda e: e["tag"] == "button" and e["text"] == "Choose")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    [response] = TrialResponse.objects.all()
    assert response.chosen_position == 1
    assert person.current() == "describe"
    for n in range(1, 6):
        field = tab_to(page, lambda e, n=n: e["name"] == f"row{n}")
        assert field["tag"] == "input"
        page.keyboard.type(f"shape {n}")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # Enter in a text field sends its form
    assert person.current() == "choice"
    texts = Description.objects.filter(response=response).order_by("position")
    assert [d.text for d in texts] == [f"shape {n}" for n in range(1, 6)]
