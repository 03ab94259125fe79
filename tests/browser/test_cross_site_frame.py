"""The framed() helper: a page of the app inside an iframe of another site."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.urls("tests.browser.urls")]


def test_a_frameable_page_renders_inside_a_cross_site_iframe(page, app_url, framed, screenshot):
    frame = framed(page, f"{app_url}/browser-test/frameable/")
    assert page.url.startswith("http://localhost:")  # the top page: another site
    assert frame.url == f"{app_url}/browser-test/frameable/"
    assert frame.parent_frame == page.main_frame
    assert frame.inner_text("#ok") == "ok"
    screenshot(page, "cross-site-frame-frameable")


def test_the_admin_refuses_to_be_framed(page, app_url, framed, screenshot):
    responses = []
    page.on("response", lambda r: responses.append(r) if "/admin/login/" in r.url else None)
    frame = framed(page, f"{app_url}/admin/login/")
    assert responses and responses[-1].headers["x-frame-options"] == "DENY"
    # Chromium shows its error page in place of the admin: no login form in the frame.
    assert frame.locator("#login-form").count() == 0
    assert not frame.url.startswith(app_url)
    screenshot(page, "cross-site-frame-admin-refused")
