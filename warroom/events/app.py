"""The ASGI endpoints (/events/timeline, /events/live, /healthz, /stats) and a stream's life: verify, authorise, serve.
May import every other module of this package, incidents.live and Django settings."""

from __future__ import annotations

import asyncio
import json
from typing import Final
from urllib.parse import parse_qs, urlsplit

import redis.asyncio as aioredis
from django.conf import settings
from django.core import signing
from django.http.request import validate_host
from redis.backoff import NoBackoff
from redis.retry import Retry

from incidents.live import LiveGrant, StreamGrant, read_live_token, read_stream_token
from warroom.events.feeds import Stream
from warroom.events.hub import REPLAY_BATCH, Hub, current_hub, get_hub
from warroom.events.nudges import LiveStream
from warroom.events.protocol import (
    HEARTBEAT,
    OPENING,
    REVOKED,
    SSE_HEADERS,
    Receive,
    Scope,
    Send,
    entry_frame,
)
from warroom.events.queries import DB_ERRORS
from warroom.events.stats import process_stats

MAX_CURSOR: Final = 2**31 - 1
LOOPBACK: Final = frozenset({"127.0.0.1", "::1"})


# --- HTTP helpers ----------------------------------------------------------------------------------------


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def cors_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """Pages may be served from another origin (dev: pages on :8000, events on :8001). The token in the URL
    is the credential, so no cookies are involved and no credentials mode is allowed."""
    origin = _header(scope, b"origin")
    if not origin:
        return []
    headers = [(b"vary", b"origin")]
    host = urlsplit(origin).hostname or ""
    trusted = origin in settings.CSRF_TRUSTED_ORIGINS or (
        bool(host) and validate_host(host, settings.ALLOWED_HOSTS)
    )
    if trusted:
        headers.append((b"access-control-allow-origin", origin.encode("latin-1")))
    return headers


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = b"application/json",
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _parse_cursor(scope: Scope, query: dict[str, list[str]]) -> int | None:
    """Last-Event-ID (what EventSource sends when it reconnects by itself) wins over ?after= (what a page,
    or htmx-ext-sse's fresh EventSource, carries). None if present but not a sane number."""
    raw = _header(scope, b"last-event-id")
    if not raw:
        values = query.get("after")
        raw = values[-1] if values else "0"
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_CURSOR:
        return None
    return int(raw)


def _read_token(query: dict[str, list[str]]) -> StreamGrant | None:
    values = query.get("t")
    if not values:
        return None
    try:
        return read_stream_token(values[-1])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


# --- Endpoints --------------------------------------------------------------------------------------------


async def events_app(scope: Scope, receive: Receive, send: Send) -> None:
    path = scope["path"]
    method = scope["method"]
    if path in ("/events/timeline", "/events/live") and method == "OPTIONS":
        # EventSource's reconnect carries Last-Event-ID, which is not a CORS-safelisted header.
        await _respond(
            send,
            204,
            b"",
            extra=[
                *cors_headers(scope),
                (b"access-control-allow-methods", b"GET"),
                (b"access-control-allow-headers", b"last-event-id, cache-control"),
                (b"access-control-max-age", b"600"),
            ],
        )
        return
    if method != "GET":
        await _respond(send, 405, b'{"error": "method not allowed"}', extra=[(b"allow", b"GET")])
        return
    if path == "/events/timeline":
        await timeline(scope, receive, send)
    elif path == "/events/live":
        await live(scope, receive, send)
    elif path == "/events/healthz":
        ok = await _redis_ok()
        body = json.dumps({"status": "ok" if ok else "degraded", "redis": "ok" if ok else "unreachable"})
        await _respond(send, 200 if ok else 503, body.encode())
    elif path == "/events/stats" and (scope.get("client") or ("",))[0] in LOOPBACK:
        hub = current_hub()
        figures = process_stats(hub.stats() if hub is not None else None)
        await _respond(send, 200, json.dumps(figures).encode())
    else:
        await _respond(send, 404, b'{"error": "no such stream"}')


async def _redis_ok() -> bool:
    client = aioredis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
        socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        return bool(await client.ping())
    except (aioredis.RedisError, OSError):
        return False
    finally:
        await client.aclose()


async def timeline(scope: Scope, receive: Receive, send: Send) -> None:
    cors = cors_headers(scope)
    query = parse_qs(bytes(scope.get("query_string") or b"").decode("latin-1"))
    grant = _read_token(query)
    if grant is None:
        await _respond(send, 403, b"", content_type=b"text/plain", extra=cors)
        return
    cursor = _parse_cursor(scope, query)
    if cursor is None:
        await _respond(send, 400, b"", content_type=b"text/plain", extra=cors)
        return
    hub = get_hub()
    # Listen before asking: a doorbell for an entry committed after the authorisation query read the
    # incident's newest seq still raises feed.wanted, so skipping the replay below is safe.
    feed = hub.watch(grant.incident_id)
    try:
        try:
            access = await hub.authorise_one((grant.user_id, grant.incident_id))
        except DB_ERRORS as exc:
            hub.warn("db", f"cannot authorise a new stream ({exc!r}); answering 503")
            await _respond(send, 503, b"", content_type=b"text/plain", extra=[*cors, (b"retry-after", b"2")])
            return
        if access is None:
            await _respond(send, 403, b"", content_type=b"text/plain", extra=cors)
            return
        # A cursor beyond the incident's newest seq (a stale tab after a database restore, a hand-made URL)
        # would silently swallow the next entries; treat it as "up to date".
        cursor = min(cursor, access.newest)
        # Register BEFORE replaying: an entry committed during the replay is announced to the Feed, not lost.
        stream = hub.register(grant, cursor, access)
        # The room's other regions: what changed since the page was rendered, then `hello`.
        hub.catch_up(stream, _since(query))
    finally:
        hub.unwatch(feed)
    watcher = asyncio.ensure_future(_watch_disconnect(receive, stream))
    try:
        await send({"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *cors]})
        await send({"type": "http.response.body", "body": OPENING, "more_body": True})
        await _replay(hub, stream, send)
        await _serve(hub, stream, send)
    finally:
        watcher.cancel()
        hub.unregister(stream)
    if stream.close_reason == "revoked":
        await send({"type": "http.response.body", "body": REVOKED, "more_body": True})
    # Ends the response properly when we close it; a no-op when the client already left.
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def _since(query: dict[str, list[str]]) -> int | None:
    """When the page was rendered (epoch ms, its regions' version): it is told what changed since."""
    values = query.get("since")
    raw = values[-1].strip() if values else ""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 15 else None


def _read_live_token(query: dict[str, list[str]]) -> LiveGrant | None:
    values = query.get("t")
    if not values:
        return None
    try:
        return read_live_token(values[-1])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


async def live(scope: Scope, receive: Receive, send: Send) -> None:
    """One page's nudges (its user's, plus one incident's and/or the dashboard's): verify the token, check
    the incident is still visible (403 otherwise, not one byte of stream), register, then only nudges."""
    cors = cors_headers(scope)
    query = parse_qs(bytes(scope.get("query_string") or b"").decode("latin-1"))
    grant = _read_live_token(query)
    if grant is None:
        await _respond(send, 403, b"", content_type=b"text/plain", extra=cors)
        return
    hub = get_hub()
    pairs = {(grant.user_id, i) for i in grant.incidents}
    if pairs:
        try:
            allowed = await hub.authorise(pairs)
        except DB_ERRORS as exc:
            hub.warn("db", f"cannot authorise a new nudge stream ({exc!r}); answering 503")
            await _respond(send, 503, b"", content_type=b"text/plain", extra=[*cors, (b"retry-after", b"2")])
            return
        if set(allowed) != pairs:
            await _respond(send, 403, b"", content_type=b"text/plain", extra=cors)
            return
    loop = asyncio.get_running_loop()
    stream = LiveStream(grant, now=loop.time())
    # Registered before the hello goes out: a nudge from now on is queued, and the hello's catch-up
    # covers everything before.
    hub.register_live(stream)
    # What changed since the page was rendered (or "re-fetch everything"), then `hello`: queued now, so
    # nothing heard from here on is missed, and sent right after the opening.
    hub.catch_up(stream, _since(query))
    watcher = asyncio.ensure_future(_watch_disconnect(receive, stream))
    try:
        await send({"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *cors]})
        await send({"type": "http.response.body", "body": OPENING, "more_body": True})
        while True:
            await stream.woken_up()
            if stream.is_closed():
                break
            chunks = stream.pending[:]
            stream.pending.clear()
            if stream.heartbeat_due:
                stream.heartbeat_due = False
                if not chunks:
                    chunks.append(HEARTBEAT)
            if chunks:
                await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": True})
                stream.last_write = loop.time()
                hub.counters["live_writes"] += 1
    finally:
        watcher.cancel()
        hub.unregister_live(stream)
    if stream.close_reason == "revoked":
        await send({"type": "http.response.body", "body": REVOKED, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _watch_disconnect(receive: Receive, stream: Stream | LiveStream) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            stream.close("disconnect")
            return


async def _replay(hub: Hub, stream: Stream, send: Send) -> None:
    """Send seq > cursor, 500 rows per query; the connection goes back to the pool before each send."""
    loop = asyncio.get_running_loop()
    # Up to date already (the page connects with after=<its newest seq>) and nothing rang since: no query.
    up_to_date = stream.last_sent >= stream.feed.wanted
    while not stream.is_closed():
        rows = [] if up_to_date else await hub.fetch_after(stream.grant.incident_id, stream.last_sent)
        if stream.is_closed():
            return
        chunk = b"".join(stream.take((seq, entry_frame(seq, html), priv) for seq, html, priv in rows))
        if len(rows) < REPLAY_BATCH:
            stream.replayed = True
            stream.presence_sent = stream.feed.presence
            await send(
                {"type": "http.response.body", "body": chunk + stream.presence_sent, "more_body": True}
            )
            stream.last_write = loop.time()
            # Whatever was announced during the replay: let the Feed fetch it (or wake us if it has it).
            hub.advance(stream.feed)
            stream.wake()
            return
        await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _serve(hub: Hub, stream: Stream, send: Send) -> None:
    loop = asyncio.get_running_loop()
    feed = stream.feed
    while True:
        await stream.woken_up()  # one pass handles every wake-up so far
        if stream.is_closed():
            return
        chunks: list[bytes] = []
        if feed.covers(stream.last_sent):
            if stream.last_sent < feed.high:
                chunks.extend(stream.take(feed.items_after(stream.last_sent)))
        elif feed.low is None:
            hub.advance(feed)  # no window yet: the Feed reads once for everyone and wakes us
        elif stream.last_sent < feed.high:
            # Behind the window (a client that could not keep up): read PostgreSQL for this stream alone.
            hub.counters["own_reads"] += 1
            try:
                rows = await hub.fetch_after(feed.incident_id, stream.last_sent)
            except DB_ERRORS as exc:
                hub.warn("db", f"cannot read entries for a lagging stream ({exc!r}); the next tick retries")
                rows = []
            if stream.is_closed():  # revoked while we were reading: send nothing more
                return
            chunks.extend(stream.take((seq, entry_frame(seq, html), priv) for seq, html, priv in rows))
            if len(rows) == REPLAY_BATCH:
                stream.wake()
        if stream.presence_pending:
            stream.presence_pending = False
            if feed.presence != stream.presence_sent:
                chunks.append(feed.presence)
                stream.presence_sent = feed.presence
        if stream.pending:
            chunks.extend(stream.pending)
            stream.pending.clear()
        if stream.heartbeat_due:
            stream.heartbeat_due = False
            if not chunks:
                chunks.append(HEARTBEAT)
        if chunks:
            await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": True})
            stream.last_write = loop.time()
            hub.counters["writes"] += 1
