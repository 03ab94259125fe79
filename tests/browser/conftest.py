"""Real-browser fixtures: Debian's chromium driven by Playwright, against pytest-django's live_server.

- ``browser``: one headless chromium for all browser tests (they all live in this
  package, and the fixture is package-scoped so that Playwright's event loop, see
  below, ends with them). Skips with the reason when /usr/bin/chromium or the playwright
  package is missing; CI installs both (``.ci/ensure-chromium``).
- ``new_page(phone=False, no_cookies=False)``: a page in a fresh context. Desktop is
  1280×800; ``phone=True`` is 375×812 at device scale factor 2 with touch.
  ``no_cookies=True`` makes a context in which no cookie is ever stored or sent (as in
  Safari inside MTurk's third-party iframe): see :func:`drop_cookies`.
- ``page`` and ``phone_page``: ``new_page()`` and ``new_page(phone=True)``.
- ``app_url``: the live server as ``http://127.0.0.1:<port>``.
- ``framed(page, url)``: loads a top page on ``http://localhost:<port>/`` (another site)
  that frames ``url``, and returns the iframe's Frame: the study as a third-party iframe.
- ``screenshot(page, name)``: writes ``var/screenshots/<name>.png`` (gitignored).
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

import pytest
from django.conf import settings

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
PHONE: dict[str, Any] = {
    "viewport": {"width": 375, "height": 812},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
TIMEOUT_MS = 15_000
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: run .ci/ensure-chromium (apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is missing: pip install -e '.[dev]'"
    return None


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop running on this thread while it is
    # started, and Django refuses ORM calls when it sees one (SynchronousOnlyOperation)
    # although every call here is synchronous. Allowed only while the browser runs.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        # launch() gives every run a fresh temporary profile (user-data dir), and each
        # new_context() is a fresh incognito-like profile inside it.
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        yield chromium
        chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def drop_cookies(context: Any) -> None:
    """Make ``context`` store and send no cookie at all, from headers or from scripts.

    Every request goes through a route that empties the cookie jar, fetches the request
    without a Cookie header, empties the jar again and hands the response to the page
    without its Set-Cookie headers. ``document.cookie`` reads empty and ignores writes in
    every frame. (Playwright's ``route.continue_`` cannot drop a Cookie header, hence
    the fetch.) Route handlers of the sync API run one at a time, so no request sees a
    cookie stored by another. Playwright does not route the target of a redirect
    (microsoft/playwright#33882): it is requested with the jar just emptied, and whatever
    its response sets is cleared before the next routed request (a chain of redirects that
    set cookies would get past this; the study pages set none).
    """
    context.add_init_script(
        "Object.defineProperty(Document.prototype, 'cookie', "
        "{configurable: true, get() { return ''; }, set(value) {}});"
    )
    context.clear_cookies()

    def without_cookies(route: Any) -> None:
        headers = {k: v for k, v in route.request.headers.items() if k.lower() != "cookie"}
        context.clear_cookies()
        try:
            # Redirects go back to the browser, which follows them itself (not through here).
            response = route.fetch(headers=headers, max_redirects=0)
        finally:
            context.clear_cookies()
        kept = {k: v for k, v in response.headers.items() if k.lower() != "set-cookie"}
        route.fulfill(response=response, headers=kept)

    context.route("**/*", without_cookies)


@pytest.fixture
def new_page(browser) -> Iterator[Callable[..., Any]]:
    contexts: list[Any] = []

    def make(*, phone: bool = False, no_cookies: bool = False, **options: Any) -> Any:
        context = browser.new_context(**(PHONE if phone else DESKTOP), **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        if no_cookies:
            drop_cookies(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page) -> Any:
    return new_page()


@pytest.fixture
def phone_page(new_page) -> Any:
    return new_page(phone=True)


@pytest.fixture
def app_url(live_server) -> str:
    """The live server on 127.0.0.1: a different site from the framing page on localhost."""
    parts = urlsplit(live_server.url)
    return urlunsplit(parts._replace(netloc=f"127.0.0.1:{parts.port}")).rstrip("/")


class _TopPage(BaseHTTPRequestHandler):
    """``/?src=<url>``: a page of another site whose only content is an iframe of ``url``."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        src = parse_qs(urlsplit(self.path).query).get("src", [""])[0]
        body = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Top site</title></head>"
            "<body style='margin:0'><p id='top'>top site</p>"
            f"<iframe id='study' src='{html.escape(src, quote=True)}' "
            "style='border:0;width:100%;height:90vh'></iframe></body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="package")
def top_site_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TopPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def framed(top_site_url) -> Callable[[Any, str], Any]:
    """``framed(page, url)``: open ``url`` in a cross-site iframe; returns its Frame."""

    def open_framed(page: Any, url: str) -> Any:
        page.goto(f"{top_site_url}?src={quote(url, safe='')}")
        frame = page.wait_for_selector("iframe#study").content_frame()
        frame.wait_for_load_state()
        return frame

    return open_framed


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    def take(page: Any, name: str) -> Path:
        if not _NAME.match(name):
            raise ValueError(f"screenshot name {name!r}: use lower-case letters, digits, - and _.")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
