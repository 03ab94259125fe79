"""/health/live and /health/ready: 200 when every dependency works, 503 naming the one that does not."""

from __future__ import annotations

import socket
from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext

from icelab import health

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    with socket.socket() as probe:  # a port the OS just handed out and nobody listens on
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_liveness_touches_nothing(client, rf):
    assert client.get("/health/live").json() == {"status": "ok"}
    with CaptureQueriesContext(connection) as queries:  # the view alone, not start-up signals
        response = health.live(rf.get("/health/live"))
    assert response.status_code == 200
    assert [q["sql"] for q in queries] == []


def test_it_is_ready_with_the_embedded_defaults(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.CELERY_BROKER_URL = ""
    response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok",
        "broker": "not configured",
        "storage": "ok",
    }
    assert response["Cache-Control"].startswith("max-age=0")
    assert not any(tmp_path.rglob("*.txt"))  # the probe file is deleted again


def test_a_broker_that_does_not_answer_makes_it_unready_without_showing_the_url(
    client, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    settings.CELERY_BROKER_URL = f"redis://:hunter2@127.0.0.1:{closed_port()}/12"
    response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == 503 and body["status"] == "unavailable"
    assert body["checks"]["broker"]["status"] == "error: ConnectionError"
    assert body["checks"]["database"]["status"] == "ok"
    assert (
        "hunter2" not in response.content.decode() and "127.0.0.1" not in response.content.decode()
    )


def test_a_running_redis_broker_is_ready(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/12"
    import redis

    try:
        redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    assert client.get("/health/ready").json()["checks"]["broker"]["status"] == "ok"


def test_storage_that_cannot_be_written_makes_it_unready(client, settings, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(default_storage, "save", refuse)
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"]["status"] == "error: PermissionError"


def test_storage_that_reads_back_something_else_makes_it_unready(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    with mock.patch.object(default_storage, "open", lambda *a: ContentFile(b"other bytes")):
        response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"]["status"] == "error: OSError"
    assert not any(tmp_path.rglob("*.txt"))


def test_a_database_that_fails_makes_it_unready(client, monkeypatch):
    from django.db import OperationalError

    class Unreachable:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr(health, "connection", Unreachable())
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["status"] == "error: OperationalError"


def test_health_is_not_redirected_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/health/live").status_code == 200
    assert client.get("/admin/login/").status_code == 301
