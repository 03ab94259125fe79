"""Health endpoints for load balancers and orchestrators.

``/health/live``: the process answers (no dependency is touched, so a database outage
does not get every web process restarted). ``/health/ready``: the database, the broker
and the storage work; 200 when all do, 503 naming the ones that do not. The body says
only which check failed and the exception's class, never a URL, host or password.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

BROKER_TIMEOUT_SECONDS = 2.0
PROBE_PREFIX = "health/"


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def check_broker() -> str:
    """Redis answers PING at CELERY_BROKER_URL; "not configured" for the in-process default."""
    url = settings.CELERY_BROKER_URL
    if not url:
        return "not configured"
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return "not checked"  # another Celery transport: nothing here knows how to ping it
    import redis

    client = redis.Redis.from_url(
        url, socket_connect_timeout=BROKER_TIMEOUT_SECONDS, socket_timeout=BROKER_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def check_storage() -> str:
    """Write, read back and delete a tiny file through default_storage."""
    payload = uuid.uuid4().hex.encode()
    name = default_storage.save(f"{PROBE_PREFIX}probe-{payload.decode()}.txt", ContentFile(payload))
    try:
        with default_storage.open(name, "rb") as handle:
            if handle.read() != payload:
                raise OSError("the file read back differs from the one written")
    finally:
        default_storage.delete(name)
    return "ok"


CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "broker": check_broker,
    "storage": check_storage,
}


def readiness() -> tuple[bool, dict[str, dict[str, object]]]:
    """Run every check; (all passed, {name: {"status", "ms"}}), a failure's status names its error."""
    results: dict[str, dict[str, object]] = {}
    healthy = True
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            status = check()
        except Exception as error:  # noqa: BLE001 - any failure means "not ready"
            healthy = False
            status = f"error: {type(error).__name__}"
        results[name] = {"status": status, "ms": round(1000 * (time.perf_counter() - started))}
    return healthy, results


@never_cache
@require_safe
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def ready(request: HttpRequest) -> JsonResponse:
    healthy, results = readiness()
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": results},
        status=200 if healthy else 503,
    )
