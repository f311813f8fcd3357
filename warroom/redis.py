"""Redis clients with timeouts and a small retry budget: a frozen Redis must never hang a request."""

from __future__ import annotations

import hashlib
from functools import cache

import redis
from django.conf import settings
from django.db import connections
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


def deployment_id() -> str:
    """Who we are on a shared Redis server: a digest of the database this deployment writes to (host, port,
    name) plus the optional REDIS_PREFIX. Pub/sub ignores Redis database numbers, so two deployments sharing
    one server (staging and production on different DB numbers) would otherwise hear each other's doorbells.

    Read from the connection's settings at call time, not at import: the test runner renames the database,
    and the servers it starts are given the renamed one, so both sides agree."""
    db = connections["default"].settings_dict
    identity = f"{db.get('HOST') or ''}:{db.get('PORT') or ''}/{db.get('NAME') or ''}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    prefix = settings.REDIS_PREFIX
    return f"{prefix}:{digest}" if prefix else digest


def channel_name(name: str) -> str:
    """A pub/sub channel (or key) of this deployment's own."""
    return f"warroom:{deployment_id()}:{name}"
