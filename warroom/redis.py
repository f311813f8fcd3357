"""Redis clients with timeouts and a small retry budget: a frozen Redis must never hang a request."""

from __future__ import annotations

from functools import cache

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry


@cache
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
        socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
        # redis-py 8 retries with back-off by default, which turned a 1 s timeout into 15 s (reliability §4.2).
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )


def redis_ping() -> bool:
    try:
        return bool(get_redis().ping())
    except redis.RedisError:
        return False
