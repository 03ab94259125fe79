"""The no_cookies context: nothing a page sets comes back, by header or by script."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.urls("tests.browser.urls")]


def _cookies_sent(page, app_url) -> str:
    page.goto(f"{app_url}/browser-test/set-cookie/")
    page.goto(f"{app_url}/browser-test/cookies/")
    return page.inner_text("#cookies")


def test_an_ordinary_context_keeps_cookies(page, app_url):
    # The control: the same pages do round-trip cookies, so the next test can fail.
    assert _cookies_sent(page, app_url) == "from_header from_script"


def test_a_no_cookies_context_sends_none(new_page, app_url):
    page = new_page(no_cookies=True)
    assert _cookies_sent(page, app_url) == "(none)"
    assert page.evaluate("document.cookie") == ""
    assert page.context.cookies() == []


def _framed_set_cookie_headers(page, app_url, framed) -> dict[str, str]:
    with page.expect_response(f"{app_url}/browser-test/set-cookie/") as response:
        framed(page, f"{app_url}/browser-test/set-cookie/")
    return response.value.all_headers()  # .headers leaves Set-Cookie out


def test_no_cookies_also_holds_inside_a_cross_site_frame(new_page, app_url, framed):
    # Control: in an ordinary context the framed page does hand the browser a cookie.
    assert "set-cookie" in _framed_set_cookie_headers(new_page(), app_url, framed)

    page = new_page(no_cookies=True)
    assert "set-cookie" not in _framed_set_cookie_headers(page, app_url, framed)
    frame = framed(page, f"{app_url}/browser-test/cookies/")
    assert frame.inner_text("#cookies") == "(none)"
    assert frame.evaluate("document.cookie") == ""


def test_redirects_are_followed_by_the_browser_without_cookies(new_page, app_url):
    page = new_page(no_cookies=True)
    with page.expect_response(f"{app_url}/admin/") as first:
        page.goto(f"{app_url}/admin/")
    assert first.value.status == 302  # handed to the browser, which followed it
    assert page.url == f"{app_url}/admin/login/?next=/admin/"
    assert page.locator("#login-form").is_visible()
