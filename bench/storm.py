"""Scenario `storm` (B5): a reconnect storm — 1,000 timeline streams, the events process killed mid-stream
while entries are posted, then restarted; every stream must resume with nothing lost and nothing twice.

- 1,000 streams (200 with `--quick`) on one incident's timeline (`/events/timeline`, signed for 10 people of
  its team, `after=` the newest seq, as the room page opens it), on one events process (uvicorn).
- A writer posts 20 entries/s through `services.timeline_post` (the composer's service) from the start to a
  few seconds after the restart.
- After 2 s the events process is SIGKILLed (a crash: nothing is closed cleanly) and started again at once on
  the same port (under `make run` the launcher restarts it after 1 s; the proxy holds requests meanwhile).
- Each client reconnects as a page does: after the stream's `retry` (2,000 ms), again and again while the
  port refuses, with `Last-Event-ID` set to the last entry it has (EventSource) and `after=` set to the same
  (timeline.js's address, for a new EventSource after a non-200 answer).

Figures: entries lost and entries received twice, per stream, against every entry committed in the run
(target 0 / 0); catch-up — from the moment the new process answers until every stream has every entry
committed by then — target ≤ retry + 3 s; reconnect attempts; how long the restart took. Runs in a child
process against its own database; `python -m bench.storm [--quick]` runs it standalone.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bench import common
from bench.fanout import (
    EventsServer,
    Poster,
    create_room,
    drop_database,
    events_database_url,
    parse_entries,
    percentile,
    prepare_database,
)

if TYPE_CHECKING:
    from bench.common import Check

NAME = "storm"
DESCRIPTION = (
    "B5: 1,000 streams, events process killed and restarted: 0 lost, 0 twice, caught up ≤ retry + 3 s"
)

STREAMS = 1000
VIEWERS = 10
RATE = 20.0  # entries per second
BEFORE_KILL = 2.0  # s of posting before the kill
AFTER_READY = 3.0  # s of posting after the new process answers
CATCH_UP_SLACK = 3.0  # the target: retry + this many seconds


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Connection(asyncio.Protocol):
    """One connection of a stream: every read kept with its time, parsed when the connection ends."""

    def __init__(self, owner: Resuming) -> None:
        self.owner = owner
        self.records: list[tuple[int, bytes]] = []
        self.transport: asyncio.Transport | None = None
        self.closed_by_us = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.owner.request())

    def data_received(self, data: bytes) -> None:
        self.records.append((time.monotonic_ns(), data))
        if len(self.records) == 1 and not data.startswith(b"HTTP/1.1 200"):
            self.owner.refused += 1
            assert self.transport is not None
            self.transport.close()  # a non-200 answer ends an EventSource: the page opens a new one
        else:
            self.owner.note(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.lost(self)


class Resuming:
    """A stream that reconnects as a page's does, and keeps (seq, arrival ns) of every entry it received."""

    def __init__(self, host: str, port: int, token: str, after: int, retry: float) -> None:
        self.host, self.port, self.token, self.retry = host, port, token, retry
        self.last = after
        self.entries: list[tuple[int, int]] = []
        self.connection: Connection | None = None
        self.attempts = 0
        self.refused = 0
        self.reconnects = 0
        self.stopping = False
        self.opened = asyncio.get_running_loop().create_future()

    def request(self) -> bytes:
        path = f"/events/timeline?t={quote(self.token)}&after={self.last}"
        head = f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAccept: text/event-stream\r\n"
        if self.attempts > 1:
            head += f"Last-Event-ID: {self.last}\r\n"
        return (head + "\r\n").encode("latin-1")

    def note(self, data: bytes) -> None:
        if not self.opened.done() and b"event: presence" in data:
            self.opened.set_result(None)

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.stopping:
            self.attempts += 1
            try:
                _, self.connection = await loop.create_connection(
                    lambda: Connection(self), self.host, self.port
                )
                return
            except OSError:  # refused: the process is down; EventSource waits `retry` and tries again
                await asyncio.sleep(self.retry)

    def lost(self, connection: Connection) -> None:
        got = parse_entries(connection.records)
        self.entries.extend(got)
        if got:
            self.last = max(self.last, max(seq for seq, _ in got))
        if self.stopping or connection.closed_by_us:
            return
        self.reconnects += 1
        loop = asyncio.get_running_loop()
        loop.call_later(self.retry, lambda: asyncio.ensure_future(self.connect()))

    def live_entries(self) -> list[tuple[int, int]]:
        """Everything received so far, the open connection's reads included."""
        current = parse_entries(self.connection.records) if self.connection is not None else []
        return self.entries + current

    def close(self) -> None:
        self.stopping = True
        if self.connection is not None and self.connection.transport is not None:
            self.connection.closed_by_us = True
            self.connection.transport.close()


async def storm(
    job: dict[str, Any], server: EventsServer, poster: Poster, incident: Any, tokens: list[str]
) -> dict[str, Any]:
    from incidents.models import Incident

    retry = job["retry_ms"] / 1000
    after = await asyncio.to_thread(lambda: Incident.objects.get(pk=incident.pk).timeline_seq)
    clients = [
        Resuming(server.host, server.port, tokens[i % len(tokens)], after, retry)
        for i in range(job["streams"])
    ]
    gate = asyncio.Semaphore(200)

    async def open_one(client: Resuming) -> None:
        async with gate:
            await client.connect()
            await asyncio.wait_for(client.opened, 60)

    t0 = time.monotonic()
    await asyncio.gather(*(open_one(c) for c in clients))
    log(f"storm: {len(clients):,} streams open in {time.monotonic() - t0:.2f} s")

    posting = True
    posted = 0
    post_errors: list[str] = []

    async def writer() -> None:
        nonlocal posted
        due = time.monotonic()
        while posting:
            try:
                await poster.post(f"storm entry {posted}")
                posted += 1
            except Exception as exc:  # counted and reported: the writer keeps the rate
                post_errors.append(repr(exc)[:200])
            due += 1 / RATE
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    writing = asyncio.ensure_future(writer())
    await asyncio.sleep(BEFORE_KILL)
    killed = time.monotonic()
    await asyncio.to_thread(server.kill)
    await asyncio.to_thread(server.start, 60.0)
    ready = time.monotonic()
    seq_at_ready = await asyncio.to_thread(lambda: Incident.objects.get(pk=incident.pk).timeline_seq)
    log(f"storm: killed and answering again after {ready - killed:.2f} s (seq {seq_at_ready})")
    await asyncio.sleep(AFTER_READY)
    posting = False
    await writing
    final = await asyncio.to_thread(lambda: Incident.objects.get(pk=incident.pk).timeline_seq)
    expected = set(range(after + 1, final + 1))

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(expected <= {seq for seq, _ in c.live_entries()} for c in clients):
            break
        await asyncio.sleep(0.1)
    for client in clients:
        client.close()
    await asyncio.sleep(0.2)

    lost: list[int] = []
    twice: list[int] = []
    catch_up: list[float] = []
    ready_ns = int(ready * 1e9)
    for client in clients:
        seqs = [seq for seq, _ in client.entries]
        lost.append(len(expected - set(seqs)))
        twice.append(len(seqs) - len(set(seqs)))
        committed = [ns for seq, ns in client.entries if seq <= seq_at_ready]
        missing_then = expected & set(range(after + 1, seq_at_ready + 1)) - set(seqs)
        if not missing_then and committed:
            catch_up.append(max(0.0, (max(committed) - ready_ns) / 1e9))
    return {
        "streams": len(clients),
        "entries": len(expected),
        "posted": posted,
        "post_errors": post_errors[:5],
        "restart_s": ready - killed,
        "lost_total": sum(lost),
        "streams_with_loss": sum(1 for n in lost if n),
        "twice_total": sum(twice),
        "streams_with_twice": sum(1 for n in twice if n),
        "caught_up": len(catch_up),
        "catch_up_s": {
            "p50": percentile(catch_up, 50),
            "p99": percentile(catch_up, 99),
            "max": max(catch_up, default=0.0),
        },
        "attempts": sum(c.attempts for c in clients),
        "refused_answers": sum(c.refused for c in clients),
        "reconnects": sum(c.reconnects for c in clients),
        "retry_ms": job["retry_ms"],
    }


def child(job: dict[str, Any]) -> dict[str, Any]:
    if job.get("client_cpu") is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(job["client_cpu"])})
    env = prepare_database(job["database_url"])
    from incidents import live
    from warroom.events.protocol import RETRY_MS

    incident, commander, viewers = create_room(VIEWERS)
    tokens = [live.mint_stream_token(user=v, incident=incident) for v in viewers]
    poster = Poster("services.timeline_post (in-process, no HTTP)", None, "", {}, incident, commander)
    job = {**job, "retry_ms": RETRY_MS}
    try:
        with EventsServer(env, job.get("server_cpu")) as server:
            results = asyncio.run(storm(job, server, poster, incident, tokens))
            results["events_log_tail"] = server.log_tail()
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(job["database_url"])
    return results


def report(results: dict[str, Any]) -> tuple[list[Check], list[str]]:
    from bench.common import Check

    r = results
    target = r["retry_ms"] / 1000 + CATCH_UP_SLACK
    common.heading(f"storm (B5): {r['streams']:,} streams, events process SIGKILLed and restarted")
    common.print_table(
        ["figure", "measured"],
        [
            ["entries committed in the run / posted by the writer", f"{r['entries']} / {r['posted']}"],
            ["restart (kill → answering again)", f"{r['restart_s']:.2f} s"],
            ["lost (streams with a loss)", f"{r['lost_total']} ({r['streams_with_loss']})"],
            ["received twice (streams)", f"{r['twice_total']} ({r['streams_with_twice']})"],
            [
                "caught up after it answered: p50 / p99 / max",
                f"{r['catch_up_s']['p50']:.2f} / {r['catch_up_s']['p99']:.2f} / {r['catch_up_s']['max']:.2f} s",
            ],
            ["streams caught up", f"{r['caught_up']:,} of {r['streams']:,}"],
            [
                "connect attempts / non-200 answers / reconnects",
                f"{r['attempts']:,} / {r['refused_answers']:,} / {r['reconnects']:,}",
            ],
        ],
        right=(1,),
    )
    checks = [
        Check(
            "storm (B5): entries lost across every stream", "0", str(r["lost_total"]), r["lost_total"] == 0
        ),
        Check("storm (B5): entries received twice", "0", str(r["twice_total"]), r["twice_total"] == 0),
        Check(
            "storm (B5): every stream caught up after the restart",
            f"≤ retry + {CATCH_UP_SLACK:g} s = {target:g} s",
            f"max {r['catch_up_s']['max']:.2f} s ({r['caught_up']:,}/{r['streams']:,} streams)",
            r["caught_up"] == r["streams"] and r["catch_up_s"]["max"] <= target,
        ),
    ]
    notes = []
    if r["post_errors"]:
        notes.append(f"storm: writer errors: {r['post_errors']}")
    tail = r.get("events_log_tail", "")
    if "Traceback" in tail:
        notes.append(f"storm: events log:\n{tail}")
    return checks, notes


def job_for(config: common.Config, pinning: common.Pinning) -> dict[str, Any]:
    return {
        "database_url": events_database_url(config.database_url).replace("_events", "_storm"),
        "streams": 200 if config.quick else STREAMS,
        "server_cpu": pinning.server_cpu,
        "client_cpu": pinning.client_cpu,
    }


SCENARIO = common.ChildScenario(NAME, "bench.storm", DESCRIPTION, job_for, child, report)
run = SCENARIO.run
main = SCENARIO.main


if __name__ == "__main__":
    raise SystemExit(main())
