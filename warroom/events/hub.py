"""The Hub, one per process: database pool, Redis subscription, registry, fan-out, revocation, the tick.
May import protocol, feeds, queries, stats and database from this package, incidents.live and warroom.redis."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Iterable
from typing import Any, Final

import redis.asyncio as aioredis
from django.conf import settings
from psycopg import sql
from redis.backoff import NoBackoff
from redis.retry import Retry

from incidents.live import StreamGrant, channel, live_channel
from warroom.events.database import Database
from warroom.events.feeds import WINDOW, Access, Feed, Row, Stream
from warroom.events.nudges import LiveStream, Router
from warroom.events.protocol import presence_frame
from warroom.events.queries import DB_ERRORS, statements
from warroom.events.stats import gc_pauses
from warroom.redis import deployment_id

log = logging.getLogger("warroom.events")

# Seconds. Membership is re-checked (and the safety tick runs) this often: a removed member loses the
# stream within AUTH_INTERVAL plus one query, well inside the 5 s the design promises.
AUTH_INTERVAL: Final = 2.0
# An idle stream gets a comment this often (give or take one AUTH_INTERVAL), so proxies keep it open.
# The environment variable exists for the test that watches a heartbeat arrive.
HEARTBEAT_INTERVAL: Final = float(os.environ.get("EVENTS_HEARTBEAT_SECONDS", "15"))
# Presence changes are debounced, so 200 people opening the room at once cause a few broadcasts.
PRESENCE_DEBOUNCE: Final = 0.05
REPLAY_BATCH: Final = 500
REDIS_BACKOFF_MAX: Final = 10.0
# A silent subscription is pinged after this long and dropped if nothing comes back.
REDIS_IDLE_PING: Final = 15.0
REDIS_DEAD_AFTER: Final = 35.0


class Hub:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.feeds: dict[int, Feed] = {}
        self.by_user: dict[int, set[Stream]] = {}
        self.stream_count = 0
        self.counters: Counter[str] = Counter()
        self.deployment = deployment_id()  # doorbells naming another deployment are dropped
        self.nudge_channel = live_channel()
        self.redis_state = "not started"
        self.last_tick_ms: float | None = None  # the whole tick: query and the sweep over the streams
        self.last_tick_query_ms: float | None = None
        self.db = Database(loop, self.counters)
        self._listener: asyncio.Task[None] | None = None
        self._maintainer: asyncio.Task[None] | None = None
        self._tick_now = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()
        self._auth_waiting: dict[tuple[int, int], list[asyncio.Future[Access | None]]] = {}
        self._auth_task: asyncio.Task[None] | None = None
        self._last_warning: dict[str, float] = {}
        self.router = Router()
        self._checker: asyncio.Task[None] | None = None

    # -- database ---------------------------------------------------------------------------------------

    async def query(self, statement: sql.Composed, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return await self.db.query(statement, params)

    async def fetch_after(self, incident_id: int, after: int, limit: int = REPLAY_BATCH) -> list[Row]:
        return await self.db.fetch_after(incident_id, after, limit)

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
        self.router.add(stream, self._topics(stream))
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
        self.router.remove(stream, self._topics(stream))
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

    @staticmethod
    def _topics(stream: Stream) -> tuple[str, str]:
        # A room's timeline stream also carries the nudges of its incident and of its user (the bell).
        return (f"u:{stream.grant.user_id}", f"i:{stream.grant.incident_id}")

    # -- nudge streams (/events/live) ---------------------------------------------------------------------

    def register_live(self, stream: LiveStream) -> None:
        self.router.add(stream, stream.grant.topics)
        self.counters["live_opened"] += 1
        self._ensure_background()

    def unregister_live(self, stream: LiveStream) -> None:
        if stream in self.router.live:
            self.router.remove(stream, stream.grant.topics)
            self.counters["live_closed"] += 1

    def on_nudge(self, payload: dict[str, Any]) -> None:
        self.counters["nudges"] += 1
        self.router.remember(payload)
        if self.router.route(payload):
            self._start_checks()

    def catch_up(self, stream: Stream | LiveStream, since: int | None) -> None:
        """Right after registering: the nudges heard since the page was rendered, then `hello`."""
        topics = stream.grant.topics if isinstance(stream, LiveStream) else self._topics(stream)
        if self.router.catch_up(stream, topics, since):
            self._start_checks()

    def _start_checks(self) -> None:
        if self._checker is None or self._checker.done():
            self._checker = self.loop.create_task(self._check_nudges())

    async def _check_nudges(self) -> None:
        """Incident nudges go out only to streams whose user may see the incident now: one query answers
        every nudge queued while the previous one ran (a burst of changes costs a handful of queries)."""
        while self.router.checking:
            batch, pairs = self.router.take_checks()
            try:
                allowed = await self.authorise(pairs)
            except DB_ERRORS as exc:
                # Withheld, not guessed: the pages catch up when their stream reconnects or they poll.
                self.warn("db", f"cannot check who may see a nudge ({exc!r}); withholding it")
                self.counters["nudges_withheld"] += sum(len(streams) for _, streams, _ in batch)
                continue
            self.counters["nudge_checks"] += 1
            self.counters["nudges_withheld"] += self.router.deliver_checked(batch, set(allowed))

    def _live_pairs(self, streams: Iterable[LiveStream]) -> set[tuple[int, int]]:
        return {(s.user_id, i) for s in streams for i in s.grant.incidents}

    def _apply_live(self, streams: Iterable[LiveStream], allowed: dict[tuple[int, int], Access]) -> None:
        for stream in streams:
            if any((stream.user_id, i) not in allowed for i in stream.grant.incidents):
                stream.close("revoked")
                self.counters["revoked"] += 1

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

    def hint_revoked(self, incident_id: int | None, user_id: int | None) -> None:
        if user_id is None:  # the incident itself changed (restricted): everyone watching it, now
            if incident_id is not None:
                self.hint_incident_revoked(incident_id)
            return
        streams = [
            s
            for s in self.by_user.get(user_id, ())
            if incident_id is None or s.grant.incident_id == incident_id
        ]
        lives = [
            s
            for s in self.router.topics.get(f"u:{user_id}", ())
            if isinstance(s, LiveStream) and (incident_id is None or incident_id in s.grant.incidents)
        ]
        if streams or lives:
            self._spawn(self._recheck(streams, lives))

    def hint_incident_revoked(self, incident_id: int) -> None:
        """Re-check every stream of one incident (its visibility changed) instead of waiting for the tick."""
        feed = self.feeds.get(incident_id)
        streams = list(feed.streams) if feed is not None else []
        lives = [s for s in self.router.live if incident_id in s.grant.incidents]
        if streams or lives:
            self._spawn(self._recheck(streams, lives))

    async def _recheck(self, streams: list[Stream], lives: list[LiveStream] | None = None) -> None:
        lives = lives or []
        try:
            allowed = await self.authorise({s.pair for s in streams} | self._live_pairs(lives))
        except DB_ERRORS as exc:
            self.warn("db", f"re-check after a revocation hint failed ({exc!r}); the next tick retries")
            return
        self._apply(streams, allowed)
        self._apply_live(lives, allowed)

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
            if self.stream_count == 0 and not self.router.live:
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
        for live in self.router.live:
            if live.last_write <= due and not live.heartbeat_due:
                live.heartbeat_due = True
                live.wake()

    async def tick(self) -> None:
        """Re-authorise every open stream and repair lost doorbells: ONE query for the whole process."""
        started = time.perf_counter()
        streams = [s for feed in self.feeds.values() for s in feed.streams]
        lives = list(self.router.live)
        pairs = {s.pair for s in streams} | self._live_pairs(lives)
        asked = time.perf_counter()
        allowed = await self.authorise(pairs)
        self.last_tick_query_ms = (time.perf_counter() - asked) * 1000
        self.counters["ticks"] += 1
        self._apply(streams, allowed)
        self._apply_live(lives, allowed)
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
                # One subscription, two channels: timeline doorbells and nudges.
                await pubsub.subscribe(channel(), live_channel())
                self.redis_state = "subscribed"
                self.counters["redis_subscribes"] += 1
                delay = 0.5
                self._tick_now.set()
                # Nudges published while we were not subscribed are gone: every open page catches up once.
                self.router.listening(int(time.time() * 1000))
                self.router.everyone_stale()
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except (aioredis.RedisError, OSError) as exc:
                self.redis_state = "down"
                self.router.listening(None)
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
                if _text(message.get("channel")) == self.nudge_channel:
                    self.on_nudge_message(message.get("data"))
                else:
                    self.on_message(message.get("data"))

    def on_nudge_message(self, data: Any) -> None:
        try:
            payload = json.loads(data)
            if payload.get("d") != self.deployment:
                self.counters["foreign_doorbells"] += 1
                return
            self.on_nudge(payload)
        except (ValueError, TypeError, KeyError, AttributeError):
            self.warn("payload", f"ignored a malformed nudge: {data!r:.200}")

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
                user_id = int(payload["r"]) if payload["r"] is not None else None
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
        return {
            "streams": self.stream_count,
            "incidents": len(self.feeds),
            "users": len(self.by_user),
            "live_streams": len(self.router.live),
            "redis": self.redis_state,
            "db_pool": self.db.stats(),
            "last_tick_ms": self.last_tick_ms,
            "last_tick_query_ms": self.last_tick_query_ms,
            "gc": gc_pauses.stats(),
            "counters": dict(self.counters),
        }


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


_hub: Hub | None = None


def current_hub() -> Hub | None:
    """The hub if a stream ever opened in this process (for /events/stats, which must not start one)."""
    return _hub


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
