"""The admin login page in a real browser, on a desktop and a phone viewport."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

PASSWORD = "a-long-test-password-1"


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        username="researcher", password=PASSWORD, is_staff=True, is_superuser=True
    )


def _fits_the_width(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_it_renders_the_login_form(new_page, app_url, screenshot, viewport):
    page = new_page(phone=viewport == "phone")
    page.goto(f"{app_url}/admin/")
    assert page.url == f"{app_url}/admin/login/?next=/admin/"
    assert "Log in" in page.title()
    for field in ("#id_username", "#id_password", "input[type=submit]"):
        assert page.locator(field).is_visible()
    # The admin's own stylesheet was served (the form is laid out, not bare HTML).
    assert page.locator("#container").evaluate("e => getComputedStyle(e).display") != "inline"
    assert _fits_the_width(page), "the login page scrolls sideways"
    path = screenshot(page, f"admin-login-{viewport}")
    assert path.stat().st_size > 5_000


def test_a_staff_user_logs_in(page, app_url, staff, screenshot):
    page.goto(f"{app_url}/admin/login/?next=/admin/")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{app_url}/admin/")
    assert page.locator("#site-name").is_visible()
    assert page.locator("#user-tools").inner_text().upper().startswith("WELCOME")
    screenshot(page, "admin-index-desktop")


def test_a_staff_user_logs_in_on_a_phone(phone_page, app_url, staff, screenshot):
    phone_page.goto(f"{app_url}/admin/login/")
    phone_page.tap("#id_username")
    phone_page.fill("#id_username", "researcher")
    phone_page.fill("#id_password", PASSWORD)
    phone_page.tap("input[type=submit]")
    phone_page.wait_for_url(f"{app_url}/admin/")
    screenshot(phone_page, "admin-index-phone")


def test_a_wrong_password_is_refused(page, app_url, staff):
    page.goto(f"{app_url}/admin/login/")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", "not-the-password")
    page.click("input[type=submit]")
    assert page.locator(".errornote").is_visible()
    assert page.url.startswith(f"{app_url}/admin/login/")


def test_without_cookies_the_admin_login_fails_its_csrf_check(new_page, app_url, staff):
    """The admin relies on cookies (CSRF, session): where none are kept it cannot log in.

    This is what a participant page must not do; here it shows that ``no_cookies`` works.
    """
    page = new_page(no_cookies=True)
    page.goto(f"{app_url}/admin/login/")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", PASSWORD)
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("input[type=submit]")
    assert posted.value.status == 403
    assert "CSRF" in page.content()
