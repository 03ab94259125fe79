"""The whole path on a phone (375 px wide, device scale factor 2): every page fits the
width, every image loads, the pictures are large, upscaled pictures stay crisp, and no
page names the group, the reducer or the class."""

from __future__ import annotations

import pytest

from studies.models import Participant, ParticipantStatus

from .participants import Person, entry_url

pytestmark = pytest.mark.browser

PHONE_WIDTH = 375
MIN_TARGET_WIDTH = 300  # CSS px: the highlighted picture fills the phone's width
MIN_PROTOTYPE_WIDTH = 96  # CSS px: each example picture of a row (3 a line)

LAYOUT = """() => {
  const images = [...document.images].map((img) => {
    const box = img.getBoundingClientRect();
    return {
      src: img.currentSrc, complete: img.complete, natural: img.naturalWidth,
      width: box.width, left: box.left, right: box.right,
      target: !!img.closest("figure.target"),
      rendering: getComputedStyle(img).imageRendering,
    };
  });
  return {
    innerWidth: window.innerWidth,
    scrollWidth: document.documentElement.scrollWidth,
    bodyScrollWidth: document.body.scrollWidth,
    ratio: window.devicePixelRatio,
    images,
  };
}"""


# What a page must never name: the reducers, the groups' labels, the classes.
SECRETS = ("nmf", "pca", "kmeans", "secret-label", "class_")


def check_layout(page, name: str) -> None:
    html = page.content().lower()
    assert not [word for word in SECRETS if word in html], f"{name}: names a secret"
    layout = page.evaluate(LAYOUT)
    assert layout["innerWidth"] == PHONE_WIDTH
    assert layout["scrollWidth"] <= PHONE_WIDTH, f"{name}: scrolls sideways"
    assert layout["bodyScrollWidth"] <= PHONE_WIDTH, f"{name}: scrolls sideways"
    for image in layout["images"]:
        assert image["complete"] and image["natural"] > 0, f"{name}: {image['src']} did not load"
        assert image["left"] >= 0 and image["right"] <= PHONE_WIDTH, f"{name}: image off screen"
        if image["target"]:
            assert image["width"] >= MIN_TARGET_WIDTH, f"{name}: the picture is small"
        else:
            assert image["width"] >= MIN_PROTOTYPE_WIDTH, f"{name}: an example is small"
        if image["width"] * layout["ratio"] > image["natural"]:
            # Shown larger than the file: scaled as crisp pixels, never smoothed.
            assert image["rendering"] in ("pixelated", "crisp-edges"), f"{name}: blurred"
    if name in ("choice", "describe"):
        assert any(image["target"] for image in layout["images"])
        # 5 rows of up to 5 examples: an image where the concept is blank is never an example.
        assert 5 <= sum(not image["target"] for image in layout["images"]) <= 25


def test_the_whole_path_fits_a_phone(phone_page, app_url, make_study, screenshot):
    page = phone_page
    study = make_study()
    seen = []

    def check(name: str) -> None:
        seen.append(name)
        check_layout(page, name)

    person = Person(page, shoot=lambda name: screenshot(page, f"phone-{name}"))
    page.goto(entry_url(app_url, study))
    check_layout(page, "start")
    screenshot(page, "phone-start")
    person.start("")
    person.finish(check=check)
    check_layout(page, "completion")
    screenshot(page, "phone-completion")

    assert page.locator(".code").inner_text() == "DONE1234"
    assert Participant.objects.get().status == ParticipantStatus.COMPLETED
    assert {"consent", "instructions", "choice", "describe", "questionnaire"} <= set(seen)
