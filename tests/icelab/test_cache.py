"""CACHE_URL on Redis: rate-limit counters go there; while Redis is down they are counted per process.

(Participants are served meanwhile: tests/studies/test_faults.py.)
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache

from tests.explainers.test_celery_worker import _redis_is_up

BACKEND = "icelab.cache.RedisCacheWithLocalFallback"


def test_failed_logins_are_still_limited_while_it_is_down(cache_redis_down, db, client, settings):
    get_user_model().objects.create_user("researcher", password="a-long-passphrase", is_staff=True)
    settings.ICELAB_RATE_ADMIN_LOGIN = "2/m"

    def login(password):
        return client.post(
            "/admin/login/?next=/admin/", {"username": "researcher", "password": password}
        )

    assert [login("wrong").status_code for _ in range(2)] == [200, 200]
    assert login("a-long-passphrase").status_code == 429


@pytest.mark.skipif(not _redis_is_up(), reason="Redis is not running on 127.0.0.1:6379")
def test_with_redis_up_the_counters_are_in_redis(settings):
    settings.CACHES = {"default": {"BACKEND": BACKEND, "LOCATION": "redis://127.0.0.1:6379/12"}}
    cache.set("icelab-test-counter", 1, 30)
    assert cache.incr("icelab-test-counter") == 2
    import redis

    keys = redis.Redis.from_url("redis://127.0.0.1:6379/12").keys("*icelab-test-counter")
    assert keys  # stored in Redis, not in the process
    cache.delete("icelab-test-counter")
