"""The site-wide content security policy, and that the admin still works under it."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

ADMIN_PAGES = [
    "/admin/",
    "/admin/studies/study/",
    "/admin/studies/study/add/",
    "/admin/explainers/stimulusset/",
    "/admin/auth/user/add/",
]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def directives(header: str) -> dict[str, str]:
    parts = (part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


def same_origin(url: str) -> bool:
    return url.startswith("/") and not url.startswith("//")


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("admin", password="a-long-passphrase")
    client.force_login(user)
    return client


def test_every_other_page_has_the_strict_policy_and_cannot_be_framed(client):
    response = client.get("/admin/login/")
    policy = directives(response["Content-Security-Policy"])
    assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert response["X-Frame-Options"] == "DENY"
    assert client.get("/health/live")["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_the_admin_runs_under_it_scripts_from_our_own_origin_only(staff_client, path):
    response = staff_client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html).group(0)
    assert not EVENT_HANDLER.search(html), EVENT_HANDLER.search(html).group(0)
    sources = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    assert sources and all(same_origin(src) for src in sources)
    styles = re.findall(r'<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"', html)
    assert styles and all(same_origin(href) for href in styles)
    for src in sources[:3] + styles[:3]:  # and they are served, from our origin
        assert staff_client.get(src).status_code == 200
