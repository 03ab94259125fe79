"""Rate limits (django-ratelimit): the client address they key on, the 429 page, the admin login.

Counters live in Django's cache (settings.CACHES): per process with the local-memory
default, shared between processes when CACHE_URL points at Redis.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_ratelimit.core import get_usage

ADMIN_LOGIN_GROUP = "icelab.admin-login"


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or the one our own proxies put in X-Forwarded-For.

    With ICELAB_TRUSTED_PROXIES = n, the n-th address from the right is the one the outermost
    of our proxies saw; addresses left of it are whatever the client chose to send.
    """
    hops = settings.ICELAB_TRUSTED_PROXIES
    forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if hops > 0 and len(forwarded) >= hops:
        return forwarded[-hops]
    return request.META.get("REMOTE_ADDR") or "0.0.0.0"


def too_many_requests(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """RATELIMIT_VIEW: a 429 page saying to wait, in the participants' plain style."""
    return render(
        request,
        "studies/problem.html",
        {
            "title": "Too many requests",
            "message": "Too many requests came from your network. Please wait and try again.",
        },
        status=429,
    )


def limit_failed_logins(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Refuse a login form (429) from an address after ICELAB_RATE_ADMIN_LOGIN failed attempts.

    Only failures count: a failed login re-renders the form (200), a good one redirects,
    so a lab sharing one address is not locked out by its own successful logins.
    """

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        usage = functools.partial(
            get_usage,
            request,
            group=ADMIN_LOGIN_GROUP,
            key="ip",
            rate=settings.ICELAB_RATE_ADMIN_LOGIN,
            method="POST",
        )
        counted = usage(increment=False)
        if counted is not None and counted["count"] >= counted["limit"]:
            return too_many_requests(request)
        response = view(request, *args, **kwargs)
        if response.status_code == 200:  # the form again: the password was wrong
            usage(increment=True)
        return response

    return wrapped
