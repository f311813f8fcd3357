"""Per-process state of live incidents: a Stream per connection, a Feed per incident (window, presence).
May import the standard library, warroom.events.protocol and incidents.live."""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from incidents.live import StreamGrant
from warroom.events.protocol import entry_frame, presence_frame

# Newest entries a Feed keeps as encoded frames; a stream further behind reads PostgreSQL itself.
WINDOW: Final = 256


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
        "pending",
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
        # Nudges for the room's other regions (warroom/events/nudges.py), sent with the next write.
        self.pending: list[bytes] = []
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
