"""Protection for participant pages that works without cookies.

Inside MTurk's iframe the study is a third-party site and Safari (by default) sends it
no cookies, so neither Django's session nor its cookie-based CSRF check can be used:

- identity: an unguessable per-participant token in the URL;
- CSRF: a per-participant form token in every form, checked in constant time, plus an
  Origin check (a cross-site form post carries the attacker's Origin);
- framing: only the MTurk worker sites may frame the pages (CSP ``frame-ancestors``,
  through django-csp's per-view replacement of the site-wide policy in settings).
  X-Frame-Options cannot express that list, so it is switched off per view
  (``xframe_options_exempt``) and the CSP header does the job for every modern browser.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from urllib.parse import urlsplit

from csp.decorators import csp_replace
from django.http import HttpRequest, HttpResponse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt

FRAME_ANCESTORS = ("https://www.mturk.com", "https://workersandbox.mturk.com")
# Where a study page's forms may go, redirects after a post included (Chrome checks them):
# our pages, MTurk's externalSubmit, Prolific's completion page.
FORM_ACTIONS = ("'self'", *FRAME_ANCESTORS, "https://app.prolific.com")
STUDY_PAGE_POLICY = {"frame-ancestors": list(FRAME_ANCESTORS), "form-action": list(FORM_ACTIONS)}


def study_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Participant-page headers: framing by MTurk only, no caching, no token in Referer headers.

    The view is exempt from Django's cookie CSRF check: it must check :func:`origin_ok`
    and :func:`form_token_ok` on every POST instead.
    """

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        # The back button must ask the server again, which then shows the current page.
        response["Cache-Control"] = "no-store"
        # The URL holds the participant's token: never send it to another site.
        response["Referrer-Policy"] = "same-origin"
        response["X-Content-Type-Options"] = "nosniff"
        return response

    return csrf_exempt(xframe_options_exempt(csp_replace(STUDY_PAGE_POLICY)(wrapped)))


def origin_ok(request: HttpRequest) -> bool:
    """Whether a POST comes from our own pages: its Origin (or, failing that, Referer) is our host.

    The host is compared, not the scheme: behind a TLS-terminating proxy Django may see
    http while the browser says https, and nobody but us can serve pages on our host.
    A request with neither header (old clients, privacy tools) passes: the form token
    still protects it. ``Origin: null`` (sandboxed frames, some redirects) does not.
    """
    origin = request.headers.get("Origin")
    source = origin if origin is not None else request.headers.get("Referer")
    if not source:
        return True
    parts = urlsplit(source)
    return parts.scheme in ("http", "https") and parts.netloc == request.get_host()


def form_token_ok(request: HttpRequest, expected: str) -> bool:
    given = request.POST.get("form_token", "")
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())
