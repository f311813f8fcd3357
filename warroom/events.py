"""The raw-ASGI events endpoint: live incident timelines as server-sent events.

Why raw ASGI and not a Django view: under Django's ASGI handler every open stream pins an OS thread for its
whole life, and one that touched the ORM also pins a DB connection (performance-anchors §1.2). Here a
stream costs a socket, a small object and two coroutines; the process keeps a fixed handful of threads.

Shape of one events process (uvicorn, `--lifespan off`, so everything below starts lazily):

- ONE `psycopg_pool.AsyncConnectionPool` (1..4 connections), borrowed per statement and given back before
  any byte goes to a client, so an idle stream never holds a connection. No Django ORM anywhere in here.
- ONE Redis subscription on this deployment's channel (`incidents.live.channel()`). It is only a doorbell: `{"i": incident, "s": seq}`
  means "incident i has entries up to seq", `{"i": incident, "r": user}` means "re-check this user now".
  PostgreSQL holds the truth; the doorbell never carries content.
- A registry incident → Feed → streams. A Feed keeps a window of the incident's newest entries, already
  encoded as SSE frames. A doorbell makes the Feed run ONE query (`seq > window top`, so a lost earlier
  doorbell is repaired by the next one), and only then wakes the streams that are behind; each one takes
  what it has not sent yet from the window. 1,000 viewers of one incident cost one query and one encoding
  per entry, not 1,000.
- One maintenance task: every AUTH_INTERVAL seconds ONE query re-authorises every open stream (active user,
  and on the team if the incident is restricted) and returns each incident's `timeline_seq`, which doubles
  as the safety tick: a Feed behind that number refreshes and wakes its streams, so a lost publish, or
  Redis being down, costs at most one interval. The same sweep sends heartbeats to idle streams.

Per stream (performance-anchors §1.4): verify the token → authorise (403 otherwise, not one event byte) →
register → replay `seq > cursor` from PostgreSQL → presence → live. Every frame goes through
`Stream.take`, which only passes `seq > last_sent`: no entry is sent twice on one connection, and entries
go out in seq order.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import re
import threading
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import psycopg
import redis.asyncio as aioredis
from django.conf import settings
from django.core import signing
from django.http.request import validate_host
from psycopg import AsyncConnection, sql
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from redis.backoff import NoBackoff
from redis.retry import Retry

from incidents.live import StreamGrant, channel, read_stream_token
from warroom.redis import deployment_id

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("warroom.events")

# Seconds. Membership is re-checked (and the safety tick runs) this often: a removed member loses the
# stream within AUTH_INTERVAL plus one query, well inside the 5 s the design promises.
AUTH_INTERVAL: Final = 2.0
# An idle stream gets a comment this often (give or take one AUTH_INTERVAL), so proxies keep it open.
# The environment variable exists for the test that watches a heartbeat arrive.
HEARTBEAT_INTERVAL: Final = float(os.environ.get("EVENTS_HEARTBEAT_SECONDS", "15"))
# Presence changes are debounced, so 200 people opening the room at once cause a few broadcasts.
PRESENCE_DEBOUNCE: Final = 0.05
RETRY_MS: Final = 2000
REPLAY_BATCH: Final = 500
# Newest entries a Feed keeps as encoded frames; a stream further behind reads PostgreSQL itself.
WINDOW: Final = 256
DB_TIMEOUT: Final = 5.0
POOL_MAX: Final = 4
REDIS_BACKOFF_MAX: Final = 10.0
# A silent subscription is pinged after this long and dropped if nothing comes back.
REDIS_IDLE_PING: Final = 15.0
REDIS_DEAD_AFTER: Final = 35.0
MAX_CURSOR: Final = 2**31 - 1
LOOPBACK: Final = frozenset({"127.0.0.1", "::1"})
DB_ERRORS: Final = (psycopg.Error, PoolTimeout, OSError)

SSE_HEADERS: Final = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    # nginx and friends would otherwise buffer the stream until it ends.
    (b"x-accel-buffering", b"no"),
    (b"x-content-type-options", b"nosniff"),
]
OPENING: Final = f"retry: {RETRY_MS}\n\n: open\n\n".encode()
HEARTBEAT: Final = b": ka\n\n"
# Sent before the server ends a stream because access was withdrawn, so the page can stop reconnecting
# with a token that will now be refused (and reload, which then shows the 404 every other route gives).
REVOKED: Final = b"event: revoked\ndata: {}\n\n"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # exactly the line endings SSE knows (not str.splitlines's set)


# --- Wire format ----------------------------------------------------------------------------------------


def entry_frame(seq: int, html: str) -> bytes:
    """One timeline entry as an SSE event. SSE ends a field at any line break, so a multi-line fragment is
    sent as one `data:` line per line, which the browser joins back with "\\n"."""
    data = "".join(f"data: {line}\n" for line in _LINE_BREAK.split(html))
    return f"id: {seq}\nevent: entry\n{data}\n".encode()


def presence_frame(people: Iterable[tuple[int, str, str]]) -> bytes:
    """Who has the room open. No `id:` line, so the browser's Last-Event-ID stays the last entry's seq."""
    ordered = sorted(people, key=lambda p: (p[1].casefold(), p[0]))
    payload = {"people": [{"id": pk, "n": name, "a": initials} for pk, name, initials in ordered]}
    return f"event: presence\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


# --- Registry ---------------------------------------------------------------------------------------------

Row = tuple[int, str, bool]  # seq, html, is_privileged: a timeline row as read
Item = tuple[int, bytes, bool]  # seq, encoded frame, is_privileged: ready to send


@dataclass(frozen=True, slots=True)
class Access:
    newest: int  # the incident's timeline_seq: entries up to here exist (the safety tick's number)
    on_team: bool  # holds view_incident on it: may see legally privileged entries


class Stream:
    """One open connection. Its pending work is its state (and its Feed's); a wake-up carries nothing."""

    __slots__ = (
        "close_reason",
        "feed",
        "grant",
        "heartbeat_due",
        "last_sent",
        "last_write",
        "on_team",
        "presence_pending",
        "presence_sent",
        "replayed",
        "waiter",
        "woken",
    )

    def __init__(self, grant: StreamGrant, cursor: int, feed: Feed, *, on_team: bool, now: float) -> None:
        self.grant = grant
        self.feed = feed
        # Highest seq this connection is past: sent, or skipped because it is privileged (see `take`).
        self.last_sent = cursor
        # On the incident's team: may see legally privileged entries. Re-read on every authorisation tick,
        # so someone leaving the team of an open incident stops receiving them within seconds.
        self.on_team = on_team
        self.replayed = False
        self.presence_pending = False
        self.presence_sent = b""
        self.heartbeat_due = False
        self.last_write = now
        self.close_reason: str | None = None
        # A flag and one bare future rather than an asyncio.Queue: wake-ups coalesce (the state says what to
        # do), and at 1,000 streams per entry the Queue's bookkeeping was a fifth of the fan-out's CPU.
        self.woken = False
        self.waiter: asyncio.Future[None] | None = None

    def is_closed(self) -> bool:
        # A method, not a property: mypy would keep a narrowed attribute across an await.
        return self.close_reason is not None

    @property
    def pair(self) -> tuple[int, int]:
        return (self.grant.user_id, self.grant.incident_id)

    def wake(self) -> None:
        if not self.woken:
            self.woken = True
            waiter = self.waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def woken_up(self) -> None:
        """Returns once woken; every wake-up since the last return counts as this one."""
        if not self.woken:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        self.woken = False

    def want_presence(self) -> None:
        if not self.presence_pending:
            self.presence_pending = True
            self.wake()

    def close(self, reason: str) -> None:
        if self.close_reason is None:
            self.close_reason = reason
        self.wake()

    def take(self, items: Iterable[Item]) -> list[bytes]:
        """The frames of `items` this connection may see and has not sent; moves last_sent past all of
        them. Privileged entries are skipped, not held back, for people off the team (as the page does:
        incidents.views.timeline._entries), and their seq counts as passed."""
        frames: list[bytes] = []
        for seq, frame, privileged in items:
            if seq > self.last_sent:
                if self.on_team or not privileged:
                    frames.append(frame)
                self.last_sent = seq
        return frames


class Feed:
    """An incident with open streams in this process: its streams, who is present, and a window of its
    newest entries as encoded frames. The window holds every entry with low < seq <= high."""

    def __init__(self, incident_id: int) -> None:
        self.incident_id = incident_id
        self.streams: set[Stream] = set()
        self.people: dict[int, list[Any]] = {}  # user id → [open streams, name, initials]
        self.presence = presence_frame(())
        self.presence_handle: asyncio.TimerHandle | None = None
        self.low: int | None = None  # None: no window yet
        self.high = 0
        self.seqs: list[int] = []
        self.frames: list[bytes] = []
        self.privileged: list[bool] = []
        self.wanted = 0  # highest seq known to exist (doorbell, tick, or a stream's connect)
        self.refreshing: asyncio.Task[None] | None = None
        # Connections being authorised: they already count as listeners, so a doorbell that rings before
        # they are registered still raises `wanted` (see timeline()).
        self.watchers = 0

    def add_person(self, grant: StreamGrant) -> bool:
        entry = self.people.get(grant.user_id)
        if entry is None:
            self.people[grant.user_id] = [1, grant.name, grant.initials]
            return True
        entry[0] += 1
        return False

    def remove_person(self, grant: StreamGrant) -> bool:
        entry = self.people.get(grant.user_id)
        if entry is None:
            return False
        entry[0] -= 1
        if entry[0] <= 0:
            del self.people[grant.user_id]
            return True
        return False

    def covers(self, after: int) -> bool:
        return self.low is not None and self.low <= after

    def extend(self, rows: list[Row]) -> None:
        for seq, html, privileged in rows:
            if seq > self.high:
                self.seqs.append(seq)
                self.frames.append(entry_frame(seq, html))
                self.privileged.append(privileged)
                self.high = seq
        if len(self.seqs) > WINDOW:
            drop = len(self.seqs) - WINDOW
            self.low = self.seqs[drop - 1]
            del self.seqs[:drop], self.frames[:drop], self.privileged[:drop]

    def items_after(self, after: int) -> list[Item]:
        start = bisect_right(self.seqs, after)
        return list(zip(self.seqs[start:], self.frames[start:], self.privileged[start:], strict=True))


# --- SQL (table and column names from the models; values always as parameters) ----------------------------


@dataclass(frozen=True)
class Statements:
    replay: sql.Composed
    authorise: sql.Composed


@cache
def statements() -> Statements:
    from django.contrib.auth.models import Permission

    from incidents.models import Incident, IncidentUserObjectPermission, TimelineEntry, User

    def table(model: Any) -> sql.Identifier:
        return sql.Identifier(model._meta.db_table)

    def column(model: Any, field: str) -> sql.Identifier:
        return sql.Identifier(model._meta.get_field(field).column)

    replay = sql.SQL(
        "SELECT seq, html, is_privileged FROM {entries} "
        "WHERE {incident} = %s AND seq > %s ORDER BY seq LIMIT %s"
    ).format(entries=table(TimelineEntry), incident=column(TimelineEntry, "incident"))
    # Mirrors incidents.permissions.visible_incidents: active, and the incident is unrestricted or the user
    # holds view_incident on it (is on its team). Returns the allowed pairs with the incident's newest seq
    # (the safety tick) and whether the user is on the team (privileged entries).
    authorise = sql.SQL(
        """
        SELECT s.user_id, s.incident_id, i.timeline_seq, t.on_team
        FROM unnest(%s::bigint[], %s::bigint[]) AS s(user_id, incident_id)
        JOIN {users} u ON u.id = s.user_id
        JOIN {incidents} i ON i.id = s.incident_id
        CROSS JOIN LATERAL (SELECT EXISTS (
            SELECT 1 FROM {perms} p JOIN {auth_perms} ap ON ap.id = p.{perm}
            WHERE p.{user} = s.user_id AND p.{obj} = s.incident_id AND ap.codename = 'view_incident'
        )) AS t(on_team)
        WHERE u.is_active AND (NOT i.is_restricted OR t.on_team)
        """
    ).format(
        users=table(User),
        incidents=table(Incident),
        perms=table(IncidentUserObjectPermission),
        auth_perms=table(Permission),
        perm=column(IncidentUserObjectPermission, "permission"),
        user=column(IncidentUserObjectPermission, "user"),
        obj=column(IncidentUserObjectPermission, "content_object"),
    )
    return Statements(replay=replay, authorise=authorise)


# Keys of settings.DATABASES[...]["OPTIONS"] that are Django's, not libpq's.
_DJANGO_DB_OPTIONS = frozenset(
    {"pool", "isolation_level", "server_side_binding", "assume_role", "cursor_factory", "context"}
)


def conninfo() -> str:
    db = settings.DATABASES["default"]
    params: dict[str, Any] = {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,  # may be a unix-socket directory; libpq takes either
        "port": db.get("PORT") or None,
    }
    for key, value in (db.get("OPTIONS") or {}).items():
        if key not in _DJANGO_DB_OPTIONS and isinstance(value, str | int):
            params[key] = value
    return make_conninfo(**{k: v for k, v in params.items() if v is not None})


# --- The hub: one per process (per event loop) ---------------------------------------------------------

Pool = AsyncConnectionPool[AsyncConnection[tuple[Any, ...]]]


class Hub:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.feeds: dict[int, Feed] = {}
        self.by_user: dict[int, set[Stream]] = {}
        self.stream_count = 0
        self.counters: Counter[str] = Counter()
        self.deployment = deployment_id()  # doorbells naming another deployment are dropped
        self.redis_state = "not started"
        self.last_tick_ms: float | None = None  # the whole tick: query and the sweep over the streams
        self.last_tick_query_ms: float | None = None
        self._pool: Pool | None = None
        self._pool_lock = asyncio.Lock()
        self._listener: asyncio.Task[None] | None = None
        self._maintainer: asyncio.Task[None] | None = None
        self._tick_now = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()
        self._auth_waiting: dict[tuple[int, int], list[asyncio.Future[Access | None]]] = {}
        self._auth_task: asyncio.Task[None] | None = None
        self._last_warning: dict[str, float] = {}

    # -- database ---------------------------------------------------------------------------------------

    async def pool(self) -> Pool:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    pool: Pool = AsyncConnectionPool(
                        conninfo(),
                        min_size=1,
                        max_size=POOL_MAX,
                        open=False,
                        name="warroom-events",
                        timeout=DB_TIMEOUT,
                        # A connect storm grows the pool to max; give the extra connections back soon after.
                        max_idle=60.0,
                        # Autocommit: no statement ever leaves a connection idle in a transaction.
                        kwargs={"autocommit": True, "application_name": "warroom-events"},
                    )
                    await pool.open(wait=False)
                    self._pool = pool
        return self._pool

    async def query(self, statement: sql.Composed, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Borrow a connection for one statement; it is back in the pool before any result is used.

        A connection broken by a PostgreSQL restart fails on first use (the pool then drops it); we check
        the idle ones and try once more, instead of paying a health-check round trip on every checkout.
        """
        pool = await self.pool()
        for attempt in (1, 2):
            try:
                async with pool.connection() as conn:
                    cursor = await conn.execute(statement, params)
                    rows = await cursor.fetchall()
                self.counters["db_queries"] += 1
                return rows
            except PoolTimeout:
                raise  # no connection to be had (PostgreSQL down): waiting once is enough
            except psycopg.OperationalError:
                if attempt == 2:
                    raise
                self.counters["db_retries"] += 1
                await pool.check()
        raise AssertionError("unreachable")

    async def fetch_after(self, incident_id: int, after: int, limit: int = REPLAY_BATCH) -> list[Row]:
        rows = await self.query(statements().replay, (incident_id, after, limit))
        return [(int(seq), str(html), bool(privileged)) for seq, html, privileged in rows]

    async def authorise(self, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], Access]:
        """Allowed (user, incident) pairs among `pairs`, with what each may see. One query."""
        users, incidents = [], []
        for user_id, incident_id in pairs:
            users.append(user_id)
            incidents.append(incident_id)
        if not users:
            return {}
        rows = await self.query(statements().authorise, (users, incidents))
        return {(int(u), int(i)): Access(int(seq), bool(on_team)) for u, i, seq, on_team in rows}

    async def authorise_one(self, pair: tuple[int, int]) -> Access | None:
        """Connect-time check, batched: while one query is in flight, new connections queue up and are all
        answered by the next one. A reconnect storm (1,000 browsers after a restart) costs a handful of
        queries, not 1,000; a lone connection waits for nothing."""
        future: asyncio.Future[Access | None] = self.loop.create_future()
        self._auth_waiting.setdefault(pair, []).append(future)
        if self._auth_task is None:
            self._auth_task = self.loop.create_task(self._authorise_waiting())
        return await future

    async def _authorise_waiting(self) -> None:
        try:
            while self._auth_waiting:
                batch, self._auth_waiting = self._auth_waiting, {}
                self.counters["connect_batches"] += 1
                try:
                    allowed = await self.authorise(batch)
                except DB_ERRORS as exc:
                    for futures in batch.values():
                        for future in futures:
                            if not future.done():
                                future.set_exception(exc)
                    continue
                for pair, futures in batch.items():
                    for future in futures:
                        if not future.done():
                            future.set_result(allowed.get(pair))
        finally:
            self._auth_task = None

    # -- registry ---------------------------------------------------------------------------------------

    def watch(self, incident_id: int) -> Feed:
        """Listen for an incident's doorbells from before the connect-time queries (see timeline())."""
        feed = self.feeds.get(incident_id)
        if feed is None:
            feed = self.feeds[incident_id] = Feed(incident_id)
        feed.watchers += 1
        self._ensure_background()
        return feed

    def unwatch(self, feed: Feed) -> None:
        feed.watchers -= 1
        self._forget_if_unused(feed)

    def _forget_if_unused(self, feed: Feed) -> None:
        if feed.streams or feed.watchers or self.feeds.get(feed.incident_id) is not feed:
            return
        # Nobody watches the incident here any more: forget its window and presence entirely. A refresh
        # still running finishes on its own (cancelling it mid-query would cost the pool a connection).
        if feed.presence_handle is not None:
            feed.presence_handle.cancel()
        del self.feeds[feed.incident_id]

    def register(self, grant: StreamGrant, cursor: int, access: Access) -> Stream:
        feed = self.feeds.get(grant.incident_id)
        if feed is None:
            feed = self.feeds[grant.incident_id] = Feed(grant.incident_id)
        feed.wanted = max(feed.wanted, access.newest)
        stream = Stream(grant, cursor, feed, on_team=access.on_team, now=self.loop.time())
        feed.streams.add(stream)
        self.by_user.setdefault(grant.user_id, set()).add(stream)
        self.stream_count += 1
        self.counters["streams_opened"] += 1
        if feed.add_person(grant):
            self._presence_changed(feed)
        self._ensure_background()
        return stream

    def unregister(self, stream: Stream) -> None:
        feed = stream.feed
        if stream not in feed.streams:
            return
        feed.streams.discard(stream)
        users = self.by_user.get(stream.grant.user_id)
        if users is not None:
            users.discard(stream)
            if not users:
                del self.by_user[stream.grant.user_id]
        self.stream_count -= 1
        self.counters["streams_closed"] += 1
        changed = feed.remove_person(stream.grant)
        if feed.streams and changed:
            self._presence_changed(feed)
        self._forget_if_unused(feed)

    def _presence_changed(self, feed: Feed) -> None:
        # Presence is per process: a user connected to another events process is not listed here. With one
        # events process (the design) that is everyone; more processes would need a shared set in Redis.
        # The frame is rebuilt at once (a connecting stream sends it right after its replay); telling the
        # other streams is debounced.
        feed.presence = presence_frame((pk, p[1], p[2]) for pk, p in feed.people.items())
        if feed.presence_handle is None:
            feed.presence_handle = self.loop.call_later(PRESENCE_DEBOUNCE, self._broadcast_presence, feed)

    def _broadcast_presence(self, feed: Feed) -> None:
        feed.presence_handle = None
        for stream in feed.streams:
            if stream.replayed:  # the others send it themselves right after their replay
                stream.want_presence()

    # -- new entries --------------------------------------------------------------------------------------

    def ring(self, incident_id: int, seq: int, entry: Row | None = None) -> None:
        feed = self.feeds.get(incident_id)
        if feed is not None:
            if (
                entry is not None
                and feed.low is not None
                and feed.refreshing is None
                and seq == feed.high + 1
            ):
                # The doorbell carried the committed entry and it is exactly the next one (seq is gapless):
                # no database read needed. Anything else — a gap, a window not yet loaded — reads PostgreSQL.
                feed.extend([entry])
                self.counters["doorbell_entries"] += 1
            # Always advance, even when `wanted` is already there (a connect or a tick may have raised it
            # first): streams still behind the window must be woken by the doorbell, not by the next tick.
            feed.wanted = max(feed.wanted, seq)
            self.advance(feed)

    def advance(self, feed: Feed) -> None:
        """Bring the window up to `feed.wanted` (one shared query), then wake the streams behind it."""
        if feed.low is not None and feed.high >= feed.wanted:
            self._wake_behind(feed)
        elif feed.refreshing is None:
            feed.refreshing = self.loop.create_task(self._refresh(feed, feed.wanted))

    def _wake_behind(self, feed: Feed) -> None:
        for stream in feed.streams:
            if stream.replayed and stream.last_sent < feed.high:
                stream.wake()

    async def _refresh(self, feed: Feed, target: int) -> None:
        try:
            if feed.low is None:
                # Start the window where the slowest caught-up stream is, so every one can read from it
                # (but not further back than the window holds; anyone behind that reads on their own).
                base = min((s.last_sent for s in feed.streams if s.replayed), default=None)
                if base is None:
                    return  # nobody is live yet; each stream calls advance() after its replay
                base = max(base, target - WINDOW)
                rows = await self.fetch_after(feed.incident_id, base)
                feed.low = feed.high = base
            else:
                rows = await self.fetch_after(feed.incident_id, feed.high)
            feed.extend(rows)
            while len(rows) == REPLAY_BATCH:
                rows = await self.fetch_after(feed.incident_id, feed.high)
                feed.extend(rows)
            self.counters["window_refreshes"] += 1
        except DB_ERRORS as exc:
            self.warn("db", f"cannot read new entries ({exc!r}); the safety tick retries")
            return
        finally:
            feed.refreshing = None
        self._wake_behind(feed)
        if feed.wanted > feed.high:
            if feed.wanted > target:
                # Rung again while we were reading: that entry may have committed after our query began.
                self.advance(feed)
            else:
                # Announced before our query began and still not there: a bogus number; do not chase it.
                feed.wanted = feed.high

    # -- revocation -------------------------------------------------------------------------------------

    def hint_revoked(self, incident_id: int | None, user_id: int) -> None:
        streams = [
            s
            for s in self.by_user.get(user_id, ())
            if incident_id is None or s.grant.incident_id == incident_id
        ]
        if streams:
            self._spawn(self._recheck(streams))

    async def _recheck(self, streams: list[Stream]) -> None:
        try:
            allowed = await self.authorise({s.pair for s in streams})
        except DB_ERRORS as exc:
            self.warn("db", f"re-check after a revocation hint failed ({exc!r}); the next tick retries")
            return
        self._apply(streams, allowed)

    def _apply(self, streams: Iterable[Stream], allowed: dict[tuple[int, int], Access]) -> None:
        for stream in streams:
            access = allowed.get(stream.pair)
            if access is None:
                stream.close("revoked")
                self.counters["revoked"] += 1
            else:
                stream.on_team = access.on_team

    # -- background tasks ---------------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _ensure_background(self) -> None:
        if self._listener is None or self._listener.done():
            self._listener = self.loop.create_task(self._listen(), name="events-redis")
        if self._maintainer is None or self._maintainer.done():
            self._maintainer = self.loop.create_task(self._maintain(), name="events-maintain")

    async def _maintain(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(AUTH_INTERVAL):
                    await self._tick_now.wait()
            self._tick_now.clear()
            if self.stream_count == 0:
                continue
            self._heartbeats()
            try:
                await self.tick()
            except DB_ERRORS as exc:
                # Streams stay open: without the database they cannot receive anything new anyway.
                self.warn(
                    "db", f"authorisation/safety tick failed ({exc!r}); retrying every {AUTH_INTERVAL:g} s"
                )
            except Exception:
                log.exception("events maintenance tick crashed; it runs again in %s s", AUTH_INTERVAL)

    def _heartbeats(self) -> None:
        # One sweep instead of a timer per stream: 5,000 idle streams then hold no timer handles at all.
        due = self.loop.time() - HEARTBEAT_INTERVAL
        for feed in self.feeds.values():
            for stream in feed.streams:
                if stream.last_write <= due and not stream.heartbeat_due:
                    stream.heartbeat_due = True
                    stream.wake()

    async def tick(self) -> None:
        """Re-authorise every open stream and repair lost doorbells: ONE query for the whole process."""
        started = time.perf_counter()
        streams = [s for feed in self.feeds.values() for s in feed.streams]
        pairs = {s.pair for s in streams}
        asked = time.perf_counter()
        allowed = await self.authorise(pairs)
        self.last_tick_query_ms = (time.perf_counter() - asked) * 1000
        self.counters["ticks"] += 1
        self._apply(streams, allowed)
        newest: dict[int, int] = {}
        for (_, incident_id), access in allowed.items():
            newest[incident_id] = max(newest.get(incident_id, 0), access.newest)
        for incident_id, seq in newest.items():
            feed = self.feeds.get(incident_id)
            if feed is None:
                continue
            if seq > feed.wanted:
                self.counters["repaired"] += 1
                feed.wanted = seq
            if feed.wanted > feed.high or any(s.replayed and s.last_sent < seq for s in feed.streams):
                self.advance(feed)
        self.last_tick_ms = (time.perf_counter() - started) * 1000

    async def _listen(self) -> None:
        """The process's one subscription. Reconnects with back-off; after each (re)subscribe a tick runs at
        once, because whatever was published while we were away is gone (pub/sub stores nothing)."""
        delay = 0.5
        while True:
            client = aioredis.Redis.from_url(
                settings.REDIS_URL,
                socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
                socket_timeout=REDIS_DEAD_AFTER,
                # Errors must reach us (we re-tick on reconnect), not be retried away inside redis-py.
                retry=Retry(NoBackoff(), 0),
            )
            pubsub: Any = client.pubsub(ignore_subscribe_messages=True)
            try:
                self.redis_state = "connecting"
                await pubsub.subscribe(channel())
                self.redis_state = "subscribed"
                self.counters["redis_subscribes"] += 1
                delay = 0.5
                self._tick_now.set()
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except (aioredis.RedisError, OSError) as exc:
                self.redis_state = "down"
                self.warn("redis", f"Redis subscription lost ({exc!r}); streams rely on the safety tick")
            except Exception:
                self.redis_state = "down"
                log.exception("events Redis listener crashed; reconnecting")
            finally:
                with contextlib.suppress(Exception):  # a dead connection may fail to close; that is fine
                    await pubsub.aclose()
                    await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, REDIS_BACKOFF_MAX)

    async def _read(self, pubsub: Any) -> None:
        heard = self.loop.time()
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=5.0)
            now = self.loop.time()
            if message is None:
                # A frozen Redis keeps the socket open and silent: ping, and give up if nothing answers.
                if now - heard > REDIS_DEAD_AFTER:
                    raise aioredis.ConnectionError("no answer from Redis")
                if not pinged and now - heard > REDIS_IDLE_PING:
                    await pubsub.ping()
                    pinged = True
                continue
            heard, pinged = now, False
            if message.get("type") == "message":
                self.on_message(message.get("data"))

    def on_message(self, data: Any) -> None:
        try:
            payload = json.loads(data)
            if payload.get("d") != self.deployment:
                # Another deployment on a shared Redis server (or a message from before names existed).
                self.counters["foreign_doorbells"] += 1
                return
            incident_id = int(payload["i"]) if payload.get("i") is not None else None
            if "s" in payload and incident_id is not None:
                seq = int(payload["s"])
                self.counters["doorbells"] += 1
                html = payload.get("h")
                entry = (seq, html, bool(payload.get("p"))) if isinstance(html, str) else None
                self.ring(incident_id, seq, entry)
            elif "r" in payload:
                user_id = int(payload["r"])
                self.counters["revocation_hints"] += 1
                self.hint_revoked(incident_id, user_id)
        except (ValueError, TypeError, KeyError, AttributeError):
            self.warn("payload", f"ignored a malformed doorbell: {data!r:.200}")

    def warn(self, kind: str, message: str) -> None:
        """Log a recurring problem once per 10 s, not once per stream or per tick."""
        now = time.monotonic()
        if now - self._last_warning.get(kind, -1e9) >= 10.0:
            self._last_warning[kind] = now
            log.warning(message)

    def stats(self) -> dict[str, Any]:
        pool = self._pool.get_stats() if self._pool is not None else {}
        return {
            "streams": self.stream_count,
            "incidents": len(self.feeds),
            "users": len(self.by_user),
            "redis": self.redis_state,
            "db_pool": {
                "open": self._pool is not None,
                "size": pool.get("pool_size", 0),
                "available": pool.get("pool_available", 0),
                "max": POOL_MAX,
            },
            "last_tick_ms": self.last_tick_ms,
            "last_tick_query_ms": self.last_tick_query_ms,
            "gc": gc_pauses.stats(),
            "counters": dict(self.counters),
        }


_hub: Hub | None = None


class GCPauses:
    """Full (generation 2) collections stop the event loop, so every stream with it: count and time them.
    With 5,000 streams one took 130 ms before the startup objects were frozen (see get_hub)."""

    def __init__(self) -> None:
        self.full = 0
        self.full_ms_max = 0.0
        self.full_ms_total = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
            return
        ms = (time.perf_counter() - self._started) * 1000
        self.full += 1
        self.full_ms_total += ms
        self.full_ms_max = max(self.full_ms_max, ms)

    def stats(self) -> dict[str, Any]:
        return {
            "full_collections": self.full,
            "full_ms_max": round(self.full_ms_max, 1),
            "full_ms_total": round(self.full_ms_total, 1),
            "frozen_objects": gc.get_freeze_count(),
        }


gc_pauses = GCPauses()


def get_hub() -> Hub:
    """The process's hub, bound to the running loop (uvicorn has exactly one)."""
    global _hub
    loop = asyncio.get_running_loop()
    if _hub is None or _hub.loop is not loop:
        if _hub is None:
            # Once, at the first stream: move everything alive after start-up (Django, the modules, ~100k
            # objects) out of the collector's sight, so full collections only walk what streams create.
            # Halved the accept time of 5,000 streams; see bench/idle_streams.py.
            gc.collect()
            gc.freeze()
            gc.callbacks.append(gc_pauses)
        _hub = Hub(loop)
    return _hub


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
    if path == "/events/timeline" and method == "OPTIONS":
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
    elif path == "/events/healthz":
        ok = await _redis_ok()
        body = json.dumps({"status": "ok" if ok else "degraded", "redis": "ok" if ok else "unreachable"})
        await _respond(send, 200 if ok else 503, body.encode())
    elif path == "/events/stats" and (scope.get("client") or ("",))[0] in LOOPBACK:
        await _respond(send, 200, json.dumps(process_stats()).encode())
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


def process_stats() -> dict[str, Any]:
    """For the bench and tests: what this process holds. Loopback clients only."""
    status: dict[str, int] = {}
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in {"Threads", "VmRSS"}:
                    status[key] = int(value.split()[0])
    except OSError:
        pass
    hub = _hub
    base = (
        hub.stats()
        if hub is not None
        else {
            "streams": 0,
            "incidents": 0,
            "users": 0,
            "redis": "not started",
            "db_pool": None,
            "counters": {},
        }
    )
    return {
        **base,
        "threads": status.get("Threads", threading.active_count()),
        "rss_kb": status.get("VmRSS"),
        "pid": os.getpid(),
    }


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


async def _watch_disconnect(receive: Receive, stream: Stream) -> None:
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
        if stream.heartbeat_due:
            stream.heartbeat_due = False
            if not chunks:
                chunks.append(HEARTBEAT)
        if chunks:
            await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": True})
            stream.last_write = loop.time()
            hub.counters["writes"] += 1
