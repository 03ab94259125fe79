"""A simulated study's report.html in a real browser, desktop and phone, as staff download it."""

from __future__ import annotations

import pytest

from analysis.services import study_report_build
from studies.services import participants_simulate

pytestmark = pytest.mark.browser

PASSWORD = "a-long-test-password-1"


@pytest.fixture
def report(make_study, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.ICELAB_PSEUDONYM_KEY = "browser-tests-pseudonym-key-0123456789"
    study = make_study(slug="browser-report")
    participants_simulate(study=study, n=24, policy="labels", seed=11)
    participants_simulate(study=study, n=6, policy="random", seed=12)
    return study_report_build(study=study)


def _log_in(page, app_url, django_user_model) -> None:
    django_user_model.objects.create_user(
        username="researcher", password=PASSWORD, is_staff=True, is_superuser=True
    )
    page.goto(f"{app_url}/admin/login/?next=/admin/")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{app_url}/admin/")


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_the_report_reads_on_a_desktop_and_a_phone(
    new_page, app_url, screenshot, report, django_user_model, viewport
):
    page = new_page(phone=viewport == "phone")
    _log_in(page, app_url, django_user_model)
    page.goto(f"{app_url}/media/{report.files['report.html']}")
    assert "report" in page.title().lower()
    assert page.locator("section.notes").inner_text().count("data so far") == 1
    assert page.locator("table").count() >= 2  # overview and Table 1 at least
    # Plots are inline PNGs that decoded (a broken image has naturalWidth 0).
    widths = page.locator("img").evaluate_all("images => images.map(i => i.naturalWidth)")
    assert widths and min(widths) > 0
    path = screenshot(page, f"analysis-report-{viewport}")  # before the checks: to look at
    assert path.stat().st_size > 20_000
    # The page never scrolls sideways; a wide table scrolls inside its own box.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
