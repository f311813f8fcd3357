"""Nudges: routing "region R, key K is now at version V" to the streams whose pages may show it.
May import the standard library, warroom.events.protocol, warroom.events.feeds and incidents.live.

A nudge carries no content, only a name and a number; the page fetches the region through its ordinary,
permission-checked view. Still, a nudge about an incident tells that something happened in it, so a nudge
routed by incident (its room, statement pages, the dashboard) goes only to streams whose user may see the
incident *now*: the hub re-checks those pairs with one query per burst (`Router.flush`) before sending.

Two kinds of stream listen: a room's timeline stream (topics u:<user> and i:<its incident>) and a page's
own nudge stream, a `LiveStream` (`/events/live`, topics from its token). Both keep their undelivered
frames in `pending` and are woken; each connection's own coroutine writes them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Iterable
from typing import Any, Final

from incidents.live import LiveGrant

# Frames a stream may hold unsent (a stalled client); beyond that the oldest are dropped and the page is
# told to catch up (`event: hello` with stale=true makes it re-fetch every region once).
PENDING_MAX: Final = 200

STALE: Final = b'event: hello\ndata: {"stale":true}\n\n'
FRESH: Final = b'event: hello\ndata: {"stale":false}\n\n'
# Nudges this process heard recently, so a page that connects (or reconnects) is told what changed since it
# was rendered instead of re-fetching every region it shows.
RECENT_MAX: Final = 2000
RECENT_SECONDS: Final = 120.0


def nudge_frame(region: str, key: str, version: int, *value: int) -> bytes:
    """No `id:` line: a room's Last-Event-ID stays its last timeline entry's seq. `value`: what a one-person
    nudge carries for its region (the bell's count: incidents.live.nudge_on_commit)."""
    data = json.dumps([region, key, version, *value], separators=(",", ":"))
    return f"event: nudge\ndata: {data}\n\n".encode()


class LiveStream:
    """One page's nudge stream."""

    __slots__ = (
        "close_reason",
        "grant",
        "heartbeat_due",
        "last_write",
        "pending",
        "waiter",
        "woken",
    )

    def __init__(self, grant: LiveGrant, *, now: float) -> None:
        self.grant = grant
        self.pending: list[bytes] = []
        self.heartbeat_due = False
        self.last_write = now
        self.close_reason: str | None = None
        self.woken = False
        self.waiter: asyncio.Future[None] | None = None

    @property
    def user_id(self) -> int:
        return self.grant.user_id

    def is_closed(self) -> bool:
        return self.close_reason is not None

    def wake(self) -> None:
        if not self.woken:
            self.woken = True
            waiter = self.waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def woken_up(self) -> None:
        if not self.woken:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        self.woken = False

    def close(self, reason: str) -> None:
        if self.close_reason is None:
            self.close_reason = reason
        self.wake()


def deliver(stream: Any, frame: bytes) -> None:
    """Queue a frame on a LiveStream or a timeline Stream (both have `pending` and `wake`)."""
    pending: list[bytes] = stream.pending
    if len(pending) >= PENDING_MAX:
        # A client this far behind re-fetches everything anyway: replace the backlog with one catch-up.
        pending.clear()
        pending.append(STALE)
    pending.append(frame)
    stream.wake()


def user_of(stream: Any) -> int:
    return int(stream.grant.user_id)


class Router:
    """topic → streams, and the nudges waiting for their visibility check."""

    def __init__(self) -> None:
        self.topics: dict[str, set[Any]] = {}
        self.live: set[LiveStream] = set()
        # (frame, streams to check, incident) — one query answers every item queued meanwhile.
        self.checking: list[tuple[bytes, list[Any], int]] = []
        self.recent: deque[tuple[int, dict[str, Any]]] = deque(maxlen=RECENT_MAX)  # (heard at, payload)
        self.heard_since: int | None = None  # epoch ms since which every nudge published was heard

    def add(self, stream: Any, topics: Iterable[str]) -> None:
        for topic in topics:
            self.topics.setdefault(topic, set()).add(stream)
        if isinstance(stream, LiveStream):
            self.live.add(stream)

    def remove(self, stream: Any, topics: Iterable[str]) -> None:
        for topic in topics:
            streams = self.topics.get(topic)
            if streams is not None:
                streams.discard(stream)
                if not streams:
                    del self.topics[topic]
        self.live.discard(stream)

    def everyone_stale(self) -> None:
        streams = {s for streams in self.topics.values() for s in streams}
        for stream in streams:
            deliver(stream, STALE)

    def listening(self, since_ms: int | None) -> None:
        """The subscription (re)started at since_ms (None: lost). What was published before is gone."""
        self.heard_since = since_ms
        self.recent.clear()

    def remember(self, payload: dict[str, Any]) -> None:
        now = int(time.time() * 1000)
        self.recent.append((now, payload))
        while self.recent and self.recent[0][0] < now - RECENT_SECONDS * 1000:
            self.recent.popleft()

    def catch_up(self, stream: Any, topics: Iterable[str], since: int | None) -> bool:
        """A page rendered at `since` (epoch ms) opened a stream: send it the nudges heard since, and say
        whether it must re-fetch everything instead (it is older than what this process remembers).
        True when a visibility check must run."""
        oldest = self.recent[0][0] if len(self.recent) == RECENT_MAX else None
        if (
            since is None
            or self.heard_since is None
            or since < self.heard_since
            or (oldest and since < oldest)
        ):
            deliver(stream, STALE)
            return False
        wanted = set(topics)
        check = False
        for _, payload in self.recent:
            if int(payload["n"][2]) > since:
                check = self.route(payload, only=stream, topics=wanted) or check
        deliver(stream, FRESH)
        return check

    def route(self, payload: dict[str, Any], *, only: Any = None, topics: set[str] | None = None) -> bool:
        """Deliver what needs no check at once; queue the rest. True when a check must run. With `only`,
        route to that one stream (whose `topics` are given) as if it were the only one listening."""
        if only is not None:
            assert topics is not None
            lookup = {t: {only} for t in topics}
        else:
            lookup = self.topics
        region, key, version, *value = payload["n"]
        incident = int(payload["i"]) if payload.get("i") is not None else None
        if value and (incident is not None or payload.get("b") or len(payload.get("u") or ()) != 1):
            value = []  # a value is one person's (writers never send it otherwise): never fan it out
        frame = nudge_frame(str(region), str(key), int(version), *(int(v) for v in value[:1]))
        # Addressed to named users by the writer, which decided they may know (their own bell, queue).
        direct: set[Any] = set()
        for user_id in payload.get("u") or ():
            direct |= lookup.get(f"u:{int(user_id)}", set())
        checked: set[Any] = set()
        if incident is not None:
            checked |= lookup.get(f"i:{incident}", set())
        if payload.get("b"):
            if incident is None:
                direct |= lookup.get("dash", set())
            else:
                checked |= lookup.get("dash", set())
        for stream in direct:
            deliver(stream, frame)
        checked -= direct
        if checked and incident is not None:
            self.checking.append((frame, list(checked), incident))
            return True
        return False

    def take_checks(self) -> tuple[list[tuple[bytes, list[Any], int]], set[tuple[int, int]]]:
        batch, self.checking = self.checking, []
        pairs = {(user_of(s), incident) for _, streams, incident in batch for s in streams}
        return batch, pairs

    @staticmethod
    def deliver_checked(batch: list[tuple[bytes, list[Any], int]], allowed: set[tuple[int, int]]) -> int:
        withheld = 0
        for frame, streams, incident in batch:
            for stream in streams:
                if (user_of(stream), incident) in allowed and not stream.is_closed():
                    deliver(stream, frame)
                else:
                    withheld += 1
        return withheld
