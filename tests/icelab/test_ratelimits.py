"""Failed admin logins are limited per address; the client address behind our own proxies."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from icelab.ratelimits import client_ip

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return get_user_model().objects.create_user(
        "researcher", password="a-long-passphrase", is_staff=True
    )


def login(client, password: str, address: str = "10.0.0.1"):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": "researcher", "password": password},
        REMOTE_ADDR=address,
    )


def test_the_login_after_too_many_failures_is_refused(client, settings, staff):
    settings.ICELAB_RATE_ADMIN_LOGIN = "3/m"
    for _ in range(3):
        assert login(client, "wrong").status_code == 200  # the form again, with its error
    refused = login(client, "a-long-passphrase")  # even the right password, for now
    assert refused.status_code == 429 and b"Too many requests" in refused.content
    assert "_auth_user_id" not in client.session
    assert login(client, "a-long-passphrase", address="10.0.0.2").status_code == 302


def test_successful_logins_do_not_count(client, settings, staff):
    settings.ICELAB_RATE_ADMIN_LOGIN = "2/m"
    for _ in range(5):
        assert login(client, "a-long-passphrase").status_code == 302
        client.logout()
    assert login(client, "wrong").status_code == 200


def test_the_login_page_itself_is_never_limited(client, settings, staff):
    settings.ICELAB_RATE_ADMIN_LOGIN = "1/m"
    login(client, "wrong")
    assert login(client, "wrong").status_code == 429
    assert client.get("/admin/login/", REMOTE_ADDR="10.0.0.1").status_code == 200


def test_the_client_address_is_remote_addr_unless_proxies_are_trusted(rf, settings):
    request = rf.get("/", REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    settings.ICELAB_TRUSTED_PROXIES = 0
    assert client_ip(request) == "10.9.9.9"  # a client cannot choose its address
    settings.ICELAB_TRUSTED_PROXIES = 1
    assert client_ip(request) == "203.0.113.7"  # what our proxy saw, not what the client wrote
    settings.ICELAB_TRUSTED_PROXIES = 3  # fewer entries than proxies: nothing trustworthy
    assert client_ip(request) == "10.9.9.9"
