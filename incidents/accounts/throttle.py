"""Throttles: a token bucket in Redis (bursts allowed, a sustained flood refused), and the answer to a
login that django-axes has locked out.

The bucket runs as one Lua script, so concurrent requests of one person cannot overspend it. Redis calls are
bounded by the client's socket timeout (warroom/redis.py); if Redis is down or frozen the bucket lets the
request through (fail open): PostgreSQL, not Redis, is what must keep working, and a throttle that failed
closed would turn a Redis outage into a war room that refuses every post.
"""

from __future__ import annotations

import logging
import math
import time
from functools import cache
from typing import Any

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from redis.backoff import NoBackoff
from redis.retry import Retry

from incidents.models import InputRefused
from warroom.redis import channel_name

log = logging.getLogger("warroom.security")

# KEYS[1] the bucket; ARGV: capacity, seconds per token, now (s), cost. Returns {allowed, retry_after_ms}.
BUCKET = """
local capacity = tonumber(ARGV[1])
local per = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) / per)
local allowed = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait = math.ceil((cost - tokens) * per * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity * per) + 1)
return {allowed, wait}
"""


# A throttle must never be what makes a post slow: its own client waits at most BUCKET_TIMEOUT seconds, without
# a retry, and after a failure the buckets are skipped for BREAKER_SECONDS (in this process), so a frozen Redis
# costs one post a quarter of a second, not every post the shared client's 1 s timeout and retry.
BUCKET_TIMEOUT = 0.25
BREAKER_SECONDS = 5.0
_down_until = 0.0


@cache
def bucket_redis() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=BUCKET_TIMEOUT,
        socket_connect_timeout=BUCKET_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )


def take(name: str, *, burst: int, refill_seconds: float) -> float:
    """Spend one token of bucket `name`. Returns 0 if allowed, else the seconds until one is back."""
    global _down_until
    if time.monotonic() < _down_until:
        return 0.0
    try:
        allowed, wait_ms = bucket_redis().eval(
            BUCKET, 1, channel_name(f"bucket:{name}"), burst, refill_seconds, time.time(), 1
        )
    except redis.RedisError as exc:
        _down_until = time.monotonic() + BREAKER_SECONDS
        log.warning(
            "throttle: Redis unavailable, letting writes through for %.0f s (%s)", BREAKER_SECONDS, exc
        )
        return 0.0
    return 0.0 if int(allowed) else max(1.0, int(wait_ms) / 1000)


class TooManyWrites(InputRefused):
    """A person's sustained flood of writes: 429, said in the composer, their text kept (R33)."""

    status = 429

    def __init__(self, retry_after: float) -> None:
        self.retry_after = math.ceil(retry_after)
        super().__init__(
            ngettext(
                "You are posting faster than the war room accepts. Your text is still here — "
                "send it again in %(seconds)d second.",
                "You are posting faster than the war room accepts. Your text is still here — "
                "send it again in %(seconds)d seconds.",
                self.retry_after,
            )
            % {"seconds": self.retry_after}
        )


def spend_write(user: Any) -> None:
    """One write (timeline post, comment, statement, upload) by `user`; raises TooManyWrites past the
    limit. Other people have buckets of their own, so one person's flood never slows anyone else."""
    wait = take(f"write:{user.pk}", burst=settings.WRITE_BURST, refill_seconds=settings.WRITE_REFILL_SECONDS)
    if wait:
        log.warning("throttle: write refused for user %s (retry in %.0fs)", user.pk, wait)
        raise TooManyWrites(wait)


def too_many(request: HttpRequest, retry_after: float, message: str) -> TemplateResponse:
    response = TemplateResponse(
        request,
        "accounts/throttled.html",
        {"message": message, "retry_after": math.ceil(retry_after)},
        status=429,
    )
    response["Retry-After"] = str(math.ceil(retry_after))
    return response


def locked_out(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any
) -> HttpResponse:
    """django-axes' answer once an account and address pair has failed too often (AXES_LOCKOUT_CALLABLE)."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    log.warning(
        "login: locked out %s from %s", (credentials or {}).get("username"), request.META.get("REMOTE_ADDR")
    )
    return too_many(
        request,
        seconds,
        ngettext(
            "Too many failed sign-in attempts for this account from this address. Try again in %(minutes)d "
            "minute, or reset your password.",
            "Too many failed sign-in attempts for this account from this address. Try again in %(minutes)d "
            "minutes, or reset your password.",
            max(1, seconds // 60),
        )
        % {"minutes": max(1, seconds // 60)},
    ).render()  # axes sends the answer as it is, unrendered


def login_name(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """The account a login attempt is for, as django-axes counts it: e-mail addresses match in any case."""
    name = (credentials or {}).get("username") or request.POST.get("username")
    return str(name).strip().lower() if name else None


def address_flood(request: HttpRequest) -> HttpResponse | None:
    """Login attempts from one address across accounts (a password spray): a bucket per address."""
    address = request.META.get("REMOTE_ADDR") or "unknown"
    wait = take(
        f"login-address:{address}",
        burst=settings.LOGIN_ADDRESS_BURST,
        refill_seconds=settings.LOGIN_ADDRESS_REFILL_SECONDS,
    )
    if not wait:
        return None
    log.warning("login: too many attempts from %s", address)
    return too_many(
        request,
        wait,
        _("Too many sign-in attempts from your network. Wait %(seconds)d seconds.")
        % {"seconds": math.ceil(wait)},
    )
