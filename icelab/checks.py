"""Deployment checks (``manage.py check --deploy``) for settings Django does not check itself."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

LOCAL_CACHE = "django.core.cache.backends.locmem.LocMemCache"


@checks.register(checks.Tags.security, deploy=True)
def rate_limits_are_shared(app_configs, **kwargs) -> list[checks.CheckMessage]:
    if settings.CACHES["default"]["BACKEND"] != LOCAL_CACHE:
        return []
    return [
        checks.Warning(
            "Rate limits are counted in local memory, separately in each web process.",
            hint="Set CACHE_URL=redis://host:6379/<db> so that all web processes share one count.",
            id="icelab.W001",
        )
    ]
