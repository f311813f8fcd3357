"""The raw-ASGI events endpoint. For now it answers its health check; the live timeline stream
(signed token, one Redis subscription per process, replay from PostgreSQL) is built on this entry point.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def _respond(send: Send, status: int, body: bytes, content_type: bytes = b"application/json") -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"cache-control", b"no-store"),
                (b"x-content-type-options", b"nosniff"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _redis_ok() -> bool:
    client = aioredis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
        socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
    )
    try:
        return bool(await client.ping())
    except aioredis.RedisError:
        return False
    finally:
        await client.aclose()


async def events_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["method"] != "GET":
        await _respond(send, 405, b'{"error": "method not allowed"}')
        return
    if scope["path"] == "/events/healthz":
        ok = await _redis_ok()
        body = json.dumps({"status": "ok" if ok else "degraded", "redis": "ok" if ok else "unreachable"})
        await _respond(send, 200 if ok else 503, body.encode())
        return
    await _respond(send, 404, b'{"error": "no such stream"}')
