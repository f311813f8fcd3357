"""Scenario `fanout`: one timeline POST → N open streams, against a raw Redis round trip in the same run.

What is measured, for N = 1, 100 and 1,000 streams on one events process (uvicorn, raw-ASGI endpoint):

- **delivery**: from `t0` (taken right before the POST is sent) to the moment a receiver's socket read
  delivers the entry (timestamped first thing in `data_received`, parsed later), per receiver and entry;
- **last receiver**: per entry, the time until ALL N receivers have it;
- **hub → client**: from the doorbell reaching a Redis subscriber in this process to the delivery, which
  isolates the events process from the POST's own cost (insert, commit, fsync);
- **completeness**: every receiver must get every entry exactly once, in seq order, ids = seqs.

Baseline: a raw Redis PUBLISH → SUBSCRIBE round trip measured in the same process, same run; every
latency is also printed as a multiple of it. The POST path is reported: the real composer POST to gunicorn
(`incidents:timeline-post`) when that URL exists, else `services.timeline_post` in-process, else a bare
insert + publish.

It runs in a child process (`python -m bench.fanout --child`) against its own database
(`<bench database>_events`, dropped and re-created), with its own gunicorn (POSTs) and uvicorn (streams)
pinned to the server CPU and the receivers pinned to the client CPU. `python -m bench.fanout [--quick]`
runs it standalone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from bench import common
from bench.processes import AsgiServer, run_child

if TYPE_CHECKING:
    from bench.common import Context, ScenarioResult

NAME = "fanout"
DESCRIPTION = "POST → N live streams (N = 1, 100, 1,000): delivery p50/p99, last receiver, exactly-once"

NS = (1, 100, 1000)
VIEWERS = 10  # distinct people watching; N streams are spread over them (several tabs each)
TARGETS = {  # N: (p50 ms, p99 ms, last-receiver p50 ms or None)
    100: (10.0, 25.0, None),
    1000: (30.0, 100.0, 40.0),
}
HUB_RATIO_TARGET = 5.0  # R3: hub → client at N=1 ÷ Redis round trip
SCALE_RATIO_TARGET = 10.0  # R4: last receiver at N=1,000 ÷ at N=1
REPO = common.REPO


# --- Shared with bench/idle_streams.py: the events database, process figures, the events server ----------


def events_database_url(base_url: str) -> str:
    """`<bench database>_events`: a database of our own, so nothing clashes with the other scenarios."""
    parts = urlsplit(base_url)
    name = parts.path.lstrip("/")
    return urlunsplit(parts._replace(path=f"/{name}_events"))


def prepare_database(database_url: str) -> dict[str, str]:
    """Export the bench environment, re-create and migrate the database, set Django up. Child only."""
    env = common.configure_process_env(database_url)
    common.recreate_database(database_url)
    common.migrate(env)
    common.setup_django()
    return env


def drop_database(database_url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        return
    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn,
    ):
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status(pid: int) -> dict[str, int]:
    result: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in {"VmRSS", "Threads"}:
                result[key] = int(value.split()[0])
    return result


class EventsServer(AsgiServer):
    """The events process as the bench runs it (bench.processes.AsgiServer): pinned to the server CPU, a deep
    accept backlog for connect storms, under cProfile when BENCH_EVENTS_PROFILE names a file; waiting for
    its figures gives up quietly (the report shows what it got)."""

    def __init__(self, env: dict[str, str], cpu: int | None, extra_args: tuple[str, ...] = ()) -> None:
        profile = os.environ.get("BENCH_EVENTS_PROFILE", "")
        super().__init__(env, cpu=cpu, extra_args=("--backlog", "4096", *extra_args), profile=profile)

    def wait_for_stats(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0, *, strict: bool = False
    ) -> dict[str, Any]:
        return super().wait_for_stats(predicate, timeout, strict=strict)


# --- Receivers: raw asyncio protocol, timestamp first, parse later -------------------------------------


class StreamClient(asyncio.Protocol):
    """One SSE connection. `data_received` only timestamps and stores the bytes (and counts entries, a
    C-level `bytes.count`), so one receiver's work barely delays the next one's timestamp."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n".encode(
                "latin-1"
            )
        )
        self.records: list[tuple[int, bytes]] = []
        self.ready = asyncio.get_running_loop().create_future()
        self.lost = False
        self.entries_seen = 0
        self.head = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        self.records.append((now, data))
        if self.ready.done():
            self.entries_seen += data.count(b"event: entry")
            return
        self.head += data
        if self.head.startswith(b"HTTP/1.1 ") and not self.head.startswith(b"HTTP/1.1 200"):
            self.ready.set_exception(ConnectionError(self.head[:200].decode("latin-1")))
        elif b"event: presence" in self.head:  # the replay is done; from here on, everything is live
            self.entries_seen = self.head.count(b"event: entry")
            self.ready.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before the stream opened: {exc!r}"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def entries(self) -> list[tuple[int, int]]:
        """(seq, arrival ns) of every entry event, in arrival order."""
        return parse_entries(self.records)


_CHUNK_HEAD = re.compile(rb"([0-9a-fA-F]+)[^\r\n]*\r\n")


def parse_entries(records: list[tuple[int, bytes]]) -> list[tuple[int, int]]:
    """Undo HTTP chunking and SSE framing; each entry gets the time of the read that completed it."""
    return [(seq, ns) for seq, ns, _ in parse_entry_events(records)]


def parse_entry_events(records: list[tuple[int, bytes]]) -> list[tuple[int, int, bytes]]:
    """(seq, arrival ns, the whole SSE event) of every entry event, in arrival order."""
    wire = b""
    head_done = False
    pending = b""  # decoded SSE text not yet ending in a blank line
    result: list[tuple[int, int, bytes]] = []
    for ns, data in records:
        wire += data
        if not head_done:
            cut = wire.find(b"\r\n\r\n")
            if cut < 0:
                continue
            wire = wire[cut + 4 :]
            head_done = True
        body = b""
        while True:
            match = _CHUNK_HEAD.match(wire)
            if match is None:
                break
            size = int(match.group(1), 16)
            start = match.end()
            if size == 0 or len(wire) < start + size + 2:
                break
            body += wire[start : start + size]
            wire = wire[start + size + 2 :]
        pending += body
        *events, pending = pending.split(b"\n\n")
        for event in events:
            if b"event: entry" not in event:
                continue
            for line in event.split(b"\n"):
                if line.startswith(b"id: "):
                    result.append((int(line[4:]), ns, event))
                    break
    return result


async def open_streams(host: str, port: int, paths: list[str], concurrency: int = 200) -> list[StreamClient]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(concurrency)
    clients: list[StreamClient] = []

    async def one(path: str) -> None:
        async with gate:
            _, client = await loop.create_connection(lambda: StreamClient(host, port, path), host, port)
            clients.append(client)
            await asyncio.wait_for(client.ready, 30)

    await asyncio.gather(*(one(p) for p in paths))
    return clients


async def close_streams(clients: list[StreamClient]) -> None:
    for client in clients:
        client.close()
    await asyncio.sleep(0.2)


# --- Posting -------------------------------------------------------------------------------------------------


@dataclass
class Poster:
    """Writes one entry per call and says which way it was written (the report names the path)."""

    how: str
    web: common.WebServer | None
    path: str
    headers: dict[str, str]
    incident: Any
    actor: Any
    post_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def post(self, body: str) -> None:
        start = time.perf_counter()
        if self.how.startswith("HTTP POST"):
            await self._http(body)
        else:
            await asyncio.get_running_loop().run_in_executor(None, self._in_process, body)
        self.post_ms.append((time.perf_counter() - start) * 1000)

    async def _http(self, body: str) -> None:
        assert self.web is not None
        form = urlencode({"kind": "note", "body": body, "idempotency_key": uuid.uuid4().hex}).encode()
        head = [
            f"POST {self.path} HTTP/1.1",
            f"Host: {self.web.host}:{self.web.port}",
            "Content-Type: application/x-www-form-urlencoded",
            f"Content-Length: {len(form)}",
            "Connection: close",
            *(f"{k}: {v}" for k, v in self.headers.items()),
        ]
        reader, writer = await asyncio.open_connection(self.web.host, self.web.port)
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + form)
        await writer.drain()
        response = await reader.read()
        writer.close()
        status = response[9:12]
        if status not in (b"200", b"201", b"302", b"303"):
            self.errors.append(response[:300].decode("utf-8", "replace"))

    def _in_process(self, body: str) -> None:
        from django.db import connection

        try:
            if self.how.startswith("services.timeline_post"):
                from incidents import services

                services.timeline_post(incident=self.incident, actor=self.actor, kind="note", body=body)
            else:
                insert_and_publish(self.incident, self.actor, body)
        finally:
            connection.close()


def insert_and_publish(incident: Any, actor: Any, body: str) -> int:
    """The contract by hand (last resort when neither the view nor the service exists)."""
    from django.db import transaction
    from django.utils.html import escape

    from incidents import live
    from incidents.models import Incident, TimelineEntry

    with transaction.atomic():
        locked = Incident.objects.select_for_update().only("id", "timeline_seq").get(pk=incident.pk)
        seq = locked.timeline_seq + 1
        Incident.objects.filter(pk=locked.pk).update(timeline_seq=seq)
        entry = TimelineEntry.objects.create(
            incident_id=locked.pk,
            seq=seq,
            kind="note",
            author=actor,
            body=body,
            html=f'<li id="entry-{seq}">{escape(body)}</li>',
        )
        live.publish_on_commit(incident_id=locked.pk, seq=seq, html=entry.html)
    return seq


def make_poster(web: common.WebServer, incident: Any, actor: Any) -> Poster:
    from django.conf import settings
    from django.urls import NoReverseMatch, reverse

    from incidents import services

    try:
        path = reverse("incidents:timeline-post", args=[incident.code])
    except NoReverseMatch:
        path = ""
    if path:
        csrf = secrets.token_hex(16)  # a 32-character secret: Django accepts it unmasked in the header
        cookie = common.session_cookie(actor)["Cookie"]
        headers = {
            "Cookie": f"{cookie}; {settings.CSRF_COOKIE_NAME}={csrf}",
            "X-CSRFToken": csrf,
            "HX-Request": "true",  # as the composer sends it: the view answers with a fragment
        }
        how = f"HTTP POST {path.replace(str(incident.code), '<uuid>')} to gunicorn (1 sync worker)"
        return Poster(how, web, path, headers, incident, actor)
    if hasattr(services, "timeline_post"):
        return Poster("services.timeline_post (in-process, no HTTP)", None, "", {}, incident, actor)
    return Poster("bare insert + publish (in-process; no view or service yet)", None, "", {}, incident, actor)


# --- Baseline: raw Redis publish → subscribe -------------------------------------------------------------


async def redis_round_trip(samples: int) -> list[float]:
    import redis.asyncio as aioredis
    from django.conf import settings

    channel = f"bench:rtt:{os.getpid()}"
    subscriber = aioredis.Redis.from_url(settings.REDIS_URL)
    publisher = aioredis.Redis.from_url(settings.REDIS_URL)
    pubsub = subscriber.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)
    arrived: dict[int, int] = {}
    got = asyncio.Event()

    async def listen() -> None:
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message is not None and message.get("type") == "message":
                arrived[int(message["data"])] = time.monotonic_ns()
                got.set()

    listener = asyncio.ensure_future(listen())
    latencies: list[float] = []
    try:
        for i in range(samples + 20):
            got.clear()
            t0 = time.monotonic_ns()
            await publisher.publish(channel, str(i))
            await asyncio.wait_for(got.wait(), 2)
            if i >= 20:  # warm-up
                latencies.append((arrived[i] - t0) / 1e6)
    finally:
        listener.cancel()
        await pubsub.aclose()
        await subscriber.aclose()
        await publisher.aclose()
    return latencies


async def doorbell_monitor(arrivals: dict[int, int]) -> None:
    """The doorbell as any subscriber sees it: when did {"s": seq} reach this process?"""
    import redis.asyncio as aioredis
    from django.conf import settings

    from incidents import live

    client = aioredis.Redis.from_url(settings.REDIS_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(live.channel())
    try:
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message is not None and message.get("type") == "message":
                now = time.monotonic_ns()
                payload = json.loads(message["data"])
                if "s" in payload:
                    arrivals.setdefault(int(payload["s"]), now)
    finally:
        await pubsub.aclose()
        await client.aclose()


# --- The run (child process) -----------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    return common.percentile(values, p)


def create_room(viewers: int) -> tuple[Any, Any, list[Any]]:
    """A restricted incident (the permission path is exercised), its commander and `viewers` observers."""
    from incidents import services
    from incidents.models import IncidentRole, OrgRole, User

    commander = User.objects.create_user(
        "commander@bench.example",
        "bench-password-1234",
        display_name="Maja Kowalska",
        org_role=OrgRole.CRISIS_MANAGER,
    )
    incident = services.incident_declare(
        actor=commander,
        title="Checkout charged customers twice",
        scenario="outage",
        severity="sev1",
        summary="Fan-out benchmark room.",
        affected_platforms=["x"],
        is_restricted=True,
    )
    observer = IncidentRole.objects.get(slug="observer")
    people = []
    for i in range(viewers):
        user = User.objects.create_user(
            f"viewer{i}@bench.example", "bench-password-1234", display_name=f"Viewer {i:02d}"
        )
        services.team_add_member(incident=incident, actor=commander, user=user, role=observer)
        people.append(user)
    return incident, commander, people


async def measure_n(
    n: int, posts: int, server: EventsServer, poster: Poster, incident: Any, tokens: list[str]
) -> dict[str, Any]:
    from incidents.models import Incident, TimelineEntry

    after = await asyncio.to_thread(lambda: Incident.objects.get(pk=incident.pk).timeline_seq)
    paths = [f"/events/timeline?t={quote(tokens[i % len(tokens)])}&after={after}" for i in range(n)]
    started = time.perf_counter()
    clients = await open_streams(server.host, server.port, paths)
    open_seconds = time.perf_counter() - started
    await asyncio.sleep(0.3)  # presence broadcasts of the connect storm settle
    doorbells: dict[int, int] = {}
    monitor = asyncio.ensure_future(doorbell_monitor(doorbells))
    await asyncio.sleep(0.2)
    before = await asyncio.to_thread(server.stats)
    cpu_before, client_before = proc_cpu_seconds(server.pid), time.process_time()
    phase_start = time.perf_counter()
    t0s: list[int] = []
    stalls = 0
    for k in range(posts):
        expected = n * (k + 1)
        t0 = time.monotonic_ns()
        t0s.append(t0)
        await poster.post(f"fanout N={n} post {k}")
        deadline = time.monotonic() + 5
        while sum(c.entries_seen for c in clients) < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
        if sum(c.entries_seen for c in clients) < expected:
            stalls += 1
        await asyncio.sleep(0.02 + (k % 5) * 0.01)  # keep entries apart, off any fixed rhythm
    await asyncio.sleep(0.5)
    elapsed = time.perf_counter() - phase_start
    server_cpu = proc_cpu_seconds(server.pid) - cpu_before
    client_cpu = time.process_time() - client_before
    after_stats = await asyncio.to_thread(server.stats)
    monitor.cancel()
    lost_connections = sum(1 for c in clients if c.lost)
    await close_streams(clients)

    rows = await asyncio.to_thread(
        lambda: list(
            TimelineEntry.objects.filter(incident=incident, seq__gt=after)
            .order_by("seq")
            .values_list("seq", "body")
        )
    )
    seq_of_post: dict[int, int] = {}
    for seq, body in rows:
        match = re.search(r"post (\d+)$", body)
        if match and body.startswith(f"fanout N={n} "):
            seq_of_post[int(match.group(1))] = seq
    expected_seqs = [seq_of_post[k] for k in sorted(seq_of_post)]
    t0_of_seq = {seq_of_post[k]: t0s[k] for k in seq_of_post}

    deliveries: list[float] = []
    hub: list[float] = []
    last: dict[int, int] = {}
    exact, missing, duplicated, disordered = 0, 0, 0, 0
    for client in clients:
        got = client.entries()
        seqs = [seq for seq, _ in got]
        counts = Counter(seqs)
        exact += seqs == expected_seqs
        missing += len(set(expected_seqs) - set(seqs))
        duplicated += sum(c - 1 for c in counts.values() if c > 1)
        disordered += seqs != sorted(seqs)
        for seq, ns in got:
            if seq in t0_of_seq:
                deliveries.append((ns - t0_of_seq[seq]) / 1e6)
                last[seq] = max(last.get(seq, 0), ns)
                if seq in doorbells:
                    hub.append((ns - doorbells[seq]) / 1e6)
    last_ms = [(last[s] - t0_of_seq[s]) / 1e6 for s in last]
    doorbell_ms = [(doorbells[s] - t0_of_seq[s]) / 1e6 for s in t0_of_seq if s in doorbells]
    counters_delta = {
        k: after_stats["counters"].get(k, 0) - before["counters"].get(k, 0) for k in after_stats["counters"]
    }
    return {
        "n": n,
        "posts": posts,
        "entries_written": len(expected_seqs),
        "open_seconds": open_seconds,
        "delivery_ms": {
            "p50": percentile(deliveries, 50),
            "p90": percentile(deliveries, 90),
            "p99": percentile(deliveries, 99),
            "max": max(deliveries, default=float("nan")),
        },
        "last_ms": {
            "p50": percentile(last_ms, 50),
            "p99": percentile(last_ms, 99),
            "max": max(last_ms, default=float("nan")),
        },
        "hub_ms": {"p50": percentile(hub, 50), "p99": percentile(hub, 99)},
        "doorbell_ms": {"p50": percentile(doorbell_ms, 50), "p99": percentile(doorbell_ms, 99)},
        "post_ms": {
            "p50": percentile(poster.post_ms[-posts:], 50),
            "p99": percentile(poster.post_ms[-posts:], 99),
        },
        "deliveries": len(deliveries),
        "expected_deliveries": n * len(expected_seqs),
        "receivers_exact": exact,
        "missing": missing,
        "duplicated": duplicated,
        "disordered_receivers": disordered,
        "lost_connections": lost_connections,
        "stalls": stalls,
        "server_cpu_per_delivery_us": server_cpu / max(1, len(deliveries)) * 1e6,
        "server_cpu_share": server_cpu / elapsed,
        "client_cpu_share": client_cpu / elapsed,
        "events_counters": counters_delta,
        "threads": after_stats.get("threads"),
        "gc": after_stats.get("gc") or {},
        "post_errors": poster.errors[:3],
    }


async def run_all(
    job: dict[str, Any], server: EventsServer, poster: Poster, incident: Any, tokens: list[str]
) -> dict[str, Any]:
    log(f"fanout: raw Redis publish → subscribe, {job['rtt_samples']} round trips …")
    rtt = await redis_round_trip(job["rtt_samples"])
    results: dict[str, Any] = {
        "redis_rtt_ms": {"p50": percentile(rtt, 50), "p99": percentile(rtt, 99)},
        "post_path": poster.how,
        "phases": [],
    }
    # One warm-up post: imports, template compilation and the first pool connections are not measured.
    warm = await open_streams(server.host, server.port, [f"/events/timeline?t={quote(tokens[0])}"])
    await poster.post("warm-up")
    await asyncio.sleep(0.3)
    await close_streams(warm)
    for n in job["ns"]:
        log(f"fanout: N={n:,}: opening {n:,} streams, then {job['posts']} posts …")
        phase = await measure_n(n, job["posts"], server, poster, incident, tokens)
        results["phases"].append(phase)
        d, last = phase["delivery_ms"], phase["last_ms"]
        log(
            f"fanout: N={n:,}: delivery p50 {d['p50']:.2f} ms, p99 {d['p99']:.2f} ms, last receiver p50 "
            f"{last['p50']:.2f} ms; {phase['deliveries']:,}/{phase['expected_deliveries']:,} delivered"
        )
        await asyncio.to_thread(server.wait_for_stats, lambda s: s["streams"] == 0, 10)
    return results


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def child(job: dict[str, Any]) -> dict[str, Any]:
    """Runs in its own process: its own database, gunicorn, uvicorn; returns every figure."""
    if job.get("client_cpu") is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(job["client_cpu"])})
    env = prepare_database(job["database_url"])
    from incidents import live

    incident, commander, viewers = create_room(VIEWERS)
    tokens = [live.mint_stream_token(user=v, incident=incident) for v in viewers]
    pinning = common.Pinning(job.get("server_cpu"), job.get("client_cpu"), "bench.fanout")
    try:
        with common.WebServer(env, pinning) as web, EventsServer(env, job.get("server_cpu")) as server:
            poster = make_poster(web, incident, commander)
            log(f"fanout: posting through {poster.how}")
            results = asyncio.run(run_all(job, server, poster, incident, tokens))
            results["events_log_tail"] = server.log_tail()
            results["web_log_tail"] = web.log_tail()
    finally:
        from django.db import connections

        connections.close_all()
        if not job.get("keep_database"):
            drop_database(job["database_url"])
    return results


# --- Report --------------------------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return common.fmt_num(value, 2)


def report(results: dict[str, Any]) -> tuple[list[Any], list[str]]:
    """Print the table; return the checks and notes for the summary."""
    from bench.common import Check

    base = results["redis_rtt_ms"]["p50"]
    common.heading("fanout: POST → N streams (ms; x = multiple of the raw Redis round trip p50)")
    print(f"  posted through: {results['post_path']}")
    print(
        f"  baseline: Redis PUBLISH → SUBSCRIBE p50 {base:.3f} ms, p99 {results['redis_rtt_ms']['p99']:.3f} ms"
    )
    rows = []
    for p in results["phases"]:
        d, last, hub = p["delivery_ms"], p["last_ms"], p["hub_ms"]
        rows.append(
            [
                f"{p['n']:,}",
                f"{_ms(d['p50'])} ({d['p50'] / base:,.0f}x)",
                f"{_ms(d['p99'])} ({d['p99'] / base:,.0f}x)",
                f"{_ms(last['p50'])} / {_ms(last['p99'])}",
                f"{_ms(hub['p50'])} ({hub['p50'] / base:,.1f}x)",
                _ms(p["doorbell_ms"]["p50"]),
                _ms(p["post_ms"]["p50"]),
                f"{p['deliveries']:,}/{p['expected_deliveries']:,}",
                f"{p['receivers_exact']:,}/{p['n']:,}",
                f"{p['server_cpu_per_delivery_us']:.0f}",
                f"{p['server_cpu_share']:.0%}/{p['client_cpu_share']:.0%}",
                f"{p['open_seconds']:.2f}",
            ]
        )
    common.print_table(
        [
            "N",
            "delivery p50",
            "delivery p99",
            "last p50/p99",
            "hub→client p50",
            "t0→doorbell",
            "POST",
            "delivered",
            "exact",
            "µs CPU/deliv",
            "CPU srv/gen",
            "open s",
        ],
        rows,
        right=range(12),
    )
    checks: list[Any] = []
    by_n = {p["n"]: p for p in results["phases"]}
    for n, (p50, p99, last50) in TARGETS.items():
        p = by_n.get(n)
        if p is None:
            continue
        d = p["delivery_ms"]
        checks.append(
            Check(f"fanout N={n:,}: delivery p50", f"≤ {p50:g} ms", f"{d['p50']:.2f} ms", d["p50"] <= p50)
        )
        checks.append(
            Check(f"fanout N={n:,}: delivery p99", f"≤ {p99:g} ms", f"{d['p99']:.2f} ms", d["p99"] <= p99)
        )
        if last50 is not None:
            last = p["last_ms"]["p50"]
            checks.append(
                Check(
                    f"fanout N={n:,}: last receiver p50", f"≤ {last50:g} ms", f"{last:.2f} ms", last <= last50
                )
            )
    exact = all(
        p["deliveries"] == p["expected_deliveries"]
        and p["receivers_exact"] == p["n"]
        and p["duplicated"] == 0
        for p in results["phases"]
    )
    shown = ", ".join(f"N={p['n']:,}: {p['receivers_exact']:,}/{p['n']:,}" for p in results["phases"])
    checks.append(
        Check("fanout: every entry to every receiver exactly once, in order", "100 %", shown, exact)
    )
    if 1 in by_n:
        hub1 = by_n[1]["hub_ms"]["p50"]
        checks.append(
            Check(
                "fanout R3: hub→client at N=1 ÷ Redis round trip",
                f"≤ {HUB_RATIO_TARGET:g}x",
                f"{hub1 / base:.1f}x ({hub1:.2f} / {base:.3f} ms)",
                hub1 / base <= HUB_RATIO_TARGET,
            )
        )
    if 1 in by_n and 1000 in by_n:
        ratio = by_n[1000]["last_ms"]["p50"] / by_n[1]["last_ms"]["p50"]
        checks.append(
            Check(
                "fanout R4: last receiver N=1,000 ÷ N=1",
                f"≤ {SCALE_RATIO_TARGET:g}x",
                f"{ratio:.1f}x",
                ratio <= SCALE_RATIO_TARGET,
            )
        )
    notes = [f"fanout: entries were posted through {results['post_path']}."]
    for p in results["phases"]:
        c = p["events_counters"]
        refresh = c.get("window_refreshes", 0)
        notes.append(
            f"fanout N={p['n']:,}: events process ran {c.get('db_queries', 0):,} queries for {p['posts']} posts "
            f"({refresh:,} shared window refreshes, {c.get('own_reads', 0):,} per-stream reads, "
            f"{c.get('ticks', 0):,} authorisation ticks); {p['threads']} threads; full GC collections "
            f"{p['gc'].get('full_collections', '?')} (longest {p['gc'].get('full_ms_max', '?')} ms); generator CPU "
            f"{p['client_cpu_share']:.0%}; {p['stalls']} posts not fully delivered within 5 s; "
            f"{p['lost_connections']} connections lost."
        )
        if p["client_cpu_share"] > 0.9:
            notes.append(
                f"fanout N={p['n']:,}: the receivers used {p['client_cpu_share']:.0%} of their CPU: their "
                "timestamps lag, so these latencies are upper bounds."
            )
        if p["post_errors"]:
            notes.append(f"fanout N={p['n']:,}: POST errors, e.g. {p['post_errors'][0][:200]}")
    for name in ("events_log_tail", "web_log_tail"):
        tail = results.get(name, "")
        if "Traceback" in tail or "ERROR" in tail:
            notes.append(f"fanout: {name.replace('_', ' ')}:\n{tail}")
    return checks, notes


def spawn_child(job: dict[str, Any]) -> dict[str, Any]:
    """Run `child(job)` in a fresh interpreter (its own Django settings and database)."""
    return run_child("bench.fanout", job)


def job_for(config: common.Config, pinning: common.Pinning) -> dict[str, Any]:
    return {
        "database_url": events_database_url(config.database_url),
        "ns": list(NS),
        "posts": 20 if config.quick else 100,
        "rtt_samples": 100 if config.quick else 500,
        "server_cpu": pinning.server_cpu,
        "client_cpu": pinning.client_cpu,
    }


def run(ctx: Context) -> ScenarioResult:
    from bench.common import ScenarioResult

    result = ScenarioResult(NAME)
    data = spawn_child(job_for(ctx.config, ctx.pinning))
    checks, notes = report(data)
    result.checks.extend(checks)
    result.notes.extend(notes)
    result.data.update(data)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=DESCRIPTION)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--json", action="store_true", help="also print the raw figures as JSON")
    args = parser.parse_args(argv)
    if args.child:
        results = child(json.load(sys.stdin))
        json.dump(results, sys.stdout, default=str)
        return 0
    config = common.Config.from_env(
        quick=args.quick, seconds=None, threads=None, pin=not args.no_pin, show_sql=False
    )
    pinning = common.choose_pinning(config.pin)
    print(f"bench.fanout: {pinning.describe()}", flush=True)
    data = spawn_child(job_for(config, pinning))
    checks, notes = report(data)
    if notes:
        common.heading("Notes")
        for note in notes:
            print(f"- {note}")
    common.heading("fanout against targets")
    common.print_checks(checks)
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
