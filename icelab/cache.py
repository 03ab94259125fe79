"""The Redis cache (``CACHE_URL``) that keeps counting in this process while Redis is unreachable.

The cache holds only rate-limit counters (icelab.ratelimits, the study entry's limit).
When Redis goes away, Django's ``RedisCache`` raises on every call, which turned each
participant's study entry and every admin login into a server error. This backend
answers from a local-memory cache instead, so limits still hold per process, pages are
served, and it goes back to Redis by itself on the next call that reaches it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
_WARN_EVERY_SECONDS = 60.0


class RedisCacheWithLocalFallback(RedisCache):
    """``RedisCache`` whose calls fall back to a per-process cache while Redis is unreachable."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        params = {
            **params,
            "OPTIONS": {
                "socket_connect_timeout": 1,
                "socket_timeout": 1,
                **params.get("OPTIONS", {}),
            },
        }
        super().__init__(server, params)
        self._local = LocMemCache(
            f"icelab-fallback-{id(self)}", {"TIMEOUT": params.get("TIMEOUT", 300)}
        )
        self._warned_at = float("-inf")

    def _either(self, name: str, *args, **kwargs):
        try:
            return getattr(super(), name)(*args, **kwargs)
        except _UNREACHABLE as error:
            now = time.monotonic()
            if now - self._warned_at > _WARN_EVERY_SECONDS:
                self._warned_at = now
                logger.warning("cache: Redis is unreachable (%s); counting in this process", error)
            return getattr(self._local, name)(*args, **kwargs)

    def add(self, *args, **kwargs):
        return self._either("add", *args, **kwargs)

    def get(self, *args, **kwargs):
        return self._either("get", *args, **kwargs)

    def set(self, *args, **kwargs):
        return self._either("set", *args, **kwargs)

    def incr(self, *args, **kwargs):
        return self._either("incr", *args, **kwargs)

    def delete(self, *args, **kwargs):
        return self._either("delete", *args, **kwargs)

    def clear(self):
        return self._either("clear")
