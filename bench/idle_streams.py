"""Scenario `idle_streams`: 5,000 open streams in ONE events process, against idle keep-alive connections.

Figures (each process is fresh, warmed with one stream so the hub, its pool and its Redis subscription
exist before the baseline is read):

- **RSS per stream**: (RSS with N streams open - RSS before) ÷ N; target ≤ 25 kB;
- **threads** of the process with N streams open; target ≤ 10 (no thread per stream);
- **PostgreSQL connections** held by the events process (`application_name = warroom-events` in
  `pg_stat_activity` for the bench database): at most the pool's own, none busy — streams hold none;
- **accept time** for N streams (each one authorised, replayed and live); target ≤ 5 s;
- **idle CPU** of the process over 10 s with N streams (authorisation ticks, heartbeat sweeps);
- **cleanup**: after the clients disconnect, /events/stats says 0 streams.

Baseline, same run: the same process kind holding N idle keep-alive HTTP connections (one small request
each): the transport's own cost. RSS per stream is also printed as a multiple of it.

Runs in a child process against `<bench database>_events` (dropped and re-created), like bench/fanout.py;
`python -m bench.idle_streams [--quick] [--streams N]` runs it standalone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bench import common
from bench.fanout import (
    EventsServer,
    StreamClient,
    close_streams,
    drop_database,
    events_database_url,
    prepare_database,
    proc_cpu_seconds,
    proc_status,
)
from bench.processes import run_child

if TYPE_CHECKING:
    from bench.common import Context, ScenarioResult

NAME = "idle_streams"
DESCRIPTION = "5,000 idle streams in one events process: RSS per stream, threads, PostgreSQL connections"

STREAMS = 5000
INCIDENTS = 20
VIEWERS = 10  # per incident: every viewer is on every incident's team; streams cycle over the pairs
RSS_TARGET_KB = 25.0
THREADS_TARGET = 10
ACCEPT_TARGET_S = 5.0
IDLE_SECONDS = 10.0
REPO = common.REPO


class KeepAliveClient(asyncio.Protocol):
    """One idle HTTP/1.1 connection after one small request: what any open connection costs."""

    def __init__(self, host: str, port: int) -> None:
        self.request = f"GET /events/nope HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode("latin-1")
        self.ready = asyncio.get_running_loop().create_future()
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.ready.done() and self.buffer.endswith(b"}"):
            self.ready.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(repr(exc)))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_many(
    factory: Any, host: str, port: int, n: int, concurrency: int = 400
) -> tuple[list[Any], float]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(concurrency)
    clients: list[Any] = []

    async def one(i: int) -> None:
        async with gate:
            _, client = await loop.create_connection(lambda: factory(i), host, port)
            clients.append(client)
            await asyncio.wait_for(client.ready, 60)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return clients, time.perf_counter() - started


def events_connections(database_url: str) -> dict[str, int]:
    """What the events process holds in PostgreSQL right now."""
    import psycopg

    name = database_url.rsplit("/", 1)[-1]
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE state <> 'idle') FROM pg_stat_activity "
            "WHERE datname = %s AND application_name = 'warroom-events'",
            (name,),
        ).fetchone()
    assert row is not None
    return {"held": int(row[0]), "busy": int(row[1])}


def create_rooms() -> list[str]:
    """INCIDENTS restricted incidents, VIEWERS people on every team. One stream path per (person, incident),
    with `after=` the incident's newest seq, as the room page connects (it has just rendered them all)."""
    from incidents import live, services
    from incidents.models import IncidentRole, OrgRole, User

    commander = User.objects.create_user(
        "commander@bench.example",
        "bench-password-1234",
        display_name="Maja Kowalska",
        org_role=OrgRole.CRISIS_MANAGER,
    )
    viewers = [
        User.objects.create_user(
            f"viewer{i}@bench.example", "bench-password-1234", display_name=f"Viewer {i:02d}"
        )
        for i in range(VIEWERS)
    ]
    observer = IncidentRole.objects.get(slug="observer")
    paths = []
    for n in range(INCIDENTS):
        incident = services.incident_declare(
            actor=commander,
            title=f"Idle streams room {n}",
            scenario="outage",
            severity="sev3",
            summary="Idle-streams benchmark room.",
            affected_platforms=["x"],
            is_restricted=True,
        )
        for viewer in viewers:
            services.team_add_member(incident=incident, actor=commander, user=viewer, role=observer)
        incident.refresh_from_db()
        for viewer in viewers:
            token = quote(live.mint_stream_token(user=viewer, incident=incident))
            paths.append(f"/events/timeline?t={token}&after={incident.timeline_seq}")
    return paths


def raise_fd_limit(needed: int) -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed and (hard == resource.RLIM_INFINITY or hard >= needed):
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed if hard == resource.RLIM_INFINITY else hard, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return f"ulimit -n {soft} (hard {hard})"


async def measure_streams(
    server: EventsServer, paths: list[str], n: int, database_url: str
) -> dict[str, Any]:
    # Warm: the hub, its pool and its Redis subscription exist before the baseline is read.
    warm, _ = await open_many(
        lambda i: StreamClient(server.host, server.port, paths[0]),
        server.host,
        server.port,
        1,
    )
    await close_streams(warm)
    await asyncio.to_thread(server.wait_for_stats, lambda s: s["streams"] == 0, 10)
    await asyncio.sleep(0.5)
    before = proc_status(server.pid)
    log(f"idle_streams: opening {n:,} streams …")
    clients, accept_s = await open_many(
        lambda i: StreamClient(server.host, server.port, paths[i % len(paths)]),
        server.host,
        server.port,
        n,
    )
    await asyncio.sleep(2.5)  # a tick or two has run over all of them
    cpu_before = proc_cpu_seconds(server.pid)
    await asyncio.sleep(IDLE_SECONDS)
    idle_cpu = (proc_cpu_seconds(server.pid) - cpu_before) / IDLE_SECONDS
    after = proc_status(server.pid)
    stats = await asyncio.to_thread(server.stats)
    pg = await asyncio.to_thread(events_connections, database_url)
    lost = sum(1 for c in clients if c.lost)
    log(f"idle_streams: {n:,} open in {accept_s:.2f} s; closing them …")
    closed_at = time.perf_counter()
    await close_streams(clients)
    final = await asyncio.to_thread(server.wait_for_stats, lambda s: s["streams"] == 0, 30)
    return {
        "n": n,
        "accept_s": accept_s,
        "rss_before_kb": before["VmRSS"],
        "rss_after_kb": after["VmRSS"],
        "rss_per_stream_kb": (after["VmRSS"] - before["VmRSS"]) / n,
        "threads_before": before["Threads"],
        "threads": after["Threads"],
        "idle_cpu_share": idle_cpu,
        "pg_held": pg["held"],
        "pg_busy": pg["busy"],
        "pool": stats.get("db_pool"),
        "last_tick_ms": stats.get("last_tick_ms"),
        "last_tick_query_ms": stats.get("last_tick_query_ms"),
        "gc": stats.get("gc"),
        "streams_reported": stats["streams"],
        "incidents_reported": stats["incidents"],
        "lost_connections": lost,
        "streams_after_close": final["streams"],
        "cleanup_s": time.perf_counter() - closed_at,
        "counters": stats.get("counters", {}),
    }


async def measure_keepalive(server: EventsServer, paths: list[str], n: int) -> dict[str, Any]:
    warm, _ = await open_many(
        lambda i: StreamClient(server.host, server.port, paths[0]),
        server.host,
        server.port,
        1,
    )
    await close_streams(warm)
    await asyncio.to_thread(server.wait_for_stats, lambda s: s["streams"] == 0, 10)
    await asyncio.sleep(0.5)
    before = proc_status(server.pid)
    log(f"idle_streams: baseline, {n:,} idle keep-alive connections …")
    clients, accept_s = await open_many(
        lambda i: KeepAliveClient(server.host, server.port), server.host, server.port, n
    )
    await asyncio.sleep(2.5)
    after = proc_status(server.pid)
    for client in clients:
        client.close()
    await asyncio.sleep(0.5)
    return {
        "n": n,
        "accept_s": accept_s,
        "rss_per_connection_kb": (after["VmRSS"] - before["VmRSS"]) / n,
        "threads": after["Threads"],
    }


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def child(job: dict[str, Any]) -> dict[str, Any]:
    if job.get("client_cpu") is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(job["client_cpu"])})
    limits = raise_fd_limit(job["streams"] + 500)
    env = prepare_database(job["database_url"])
    log(f"idle_streams: {INCIDENTS} incidents x {VIEWERS} people on their teams …")
    paths = create_rooms()
    results: dict[str, Any] = {"limits": limits}
    try:
        with EventsServer(env, job.get("server_cpu")) as server:
            results["streams"] = asyncio.run(
                measure_streams(server, paths, job["streams"], job["database_url"])
            )
            results["events_log_tail"] = server.log_tail()
        # A fresh process for the baseline: freed memory is not returned to the OS, so measuring in the same
        # process after the streams closed would understate it.
        with EventsServer(env, job.get("server_cpu"), ("--timeout-keep-alive", "3600")) as server:
            results["keepalive"] = asyncio.run(measure_keepalive(server, paths, job["streams"]))
    finally:
        from django.db import connections

        connections.close_all()
        if not job.get("keep_database"):
            drop_database(job["database_url"])
    return results


def report(results: dict[str, Any]) -> tuple[list[Any], list[str]]:
    from bench.common import Check

    s, k = results["streams"], results["keepalive"]
    per_stream, per_conn = s["rss_per_stream_kb"], k["rss_per_connection_kb"]
    ratio = per_stream / per_conn if per_conn > 0 else float("nan")
    common.heading(f"idle_streams: {s['n']:,} open streams in one events process ({results['limits']})")
    common.print_table(
        ["figure", "streams", f"baseline: {k['n']:,} idle keep-alive connections", "÷ baseline"],
        [
            ["RSS per connection", f"{per_stream:.1f} kB", f"{per_conn:.1f} kB", f"{ratio:.2f}"],
            [
                "RSS total (before → with all open)",
                f"{s['rss_before_kb'] / 1024:.0f} → {s['rss_after_kb'] / 1024:.0f} MB",
                "",
                "",
            ],
            [
                "threads (before → with all open)",
                f"{s['threads_before']} → {s['threads']}",
                str(k["threads"]),
                "",
            ],
            [
                "accept all",
                f"{s['accept_s']:.2f} s",
                f"{k['accept_s']:.2f} s",
                f"{s['accept_s'] / k['accept_s']:.1f}",
            ],
            ["PostgreSQL connections held / busy", f"{s['pg_held']} / {s['pg_busy']}", "", ""],
            [
                "pool (size / max)",
                f"{(s['pool'] or {}).get('size', '?')} / {(s['pool'] or {}).get('max', '?')}",
                "",
                "",
            ],
            ["idle CPU (share of a core)", f"{s['idle_cpu_share']:.1%}", "", ""],
            [
                "full GC collections / longest pause",
                f"{(s.get('gc') or {}).get('full_collections', '?')} / {(s.get('gc') or {}).get('full_ms_max', '?')} ms",
                "",
                "",
            ],
            [
                "authorisation tick: whole / its one query",
                f"{s['last_tick_ms'] or float('nan'):.1f} / {s['last_tick_query_ms'] or float('nan'):.1f} ms",
                "",
                "",
            ],
            [
                "streams after the clients left",
                f"{s['streams_after_close']} ({s['cleanup_s']:.1f} s)",
                "",
                "",
            ],
        ],
    )
    pool_size = (s["pool"] or {}).get("size", 4)
    checks = [
        Check(
            f"idle_streams: RSS per stream at {s['n']:,}",
            f"≤ {RSS_TARGET_KB:g} kB",
            f"{per_stream:.1f} kB ({ratio:.2f}x a keep-alive connection)",
            per_stream <= RSS_TARGET_KB,
        ),
        Check(
            f"idle_streams: threads with {s['n']:,} streams",
            f"≤ {THREADS_TARGET}",
            str(s["threads"]),
            s["threads"] <= THREADS_TARGET,
        ),
        Check(
            "idle_streams: PostgreSQL connections held by streams",
            "0 beyond the pool's idle ones",
            f"{s['pg_held']} held (pool size {pool_size}), {s['pg_busy']} busy",
            s["pg_held"] <= pool_size and s["pg_busy"] == 0,
        ),
        Check(
            f"idle_streams: accept {s['n']:,} streams",
            f"≤ {ACCEPT_TARGET_S:g} s",
            f"{s['accept_s']:.2f} s",
            s["accept_s"] <= ACCEPT_TARGET_S,
        ),
        Check(
            "idle_streams: every stream open, none dropped, registry empty after",
            "all / 0 / 0",
            f"{s['streams_reported']:,} / {s['lost_connections']} / {s['streams_after_close']}",
            s["streams_reported"] == s["n"] and s["lost_connections"] == 0 and s["streams_after_close"] == 0,
        ),
    ]
    notes = [
        f"idle_streams: {s['n']:,} streams over {s['incidents_reported']} incidents, {VIEWERS} people each; the events "
        f"process ran {s['counters'].get('db_queries', 0):,} queries in all (connect-time authorisation and "
        f"replay, ticks). Streams connect with after=<newest seq>, as the room page does."
    ]
    tail = results.get("events_log_tail", "")
    if "Traceback" in tail or "ERROR" in tail:
        notes.append(f"idle_streams: events log:\n{tail}")
    return checks, notes


def spawn_child(job: dict[str, Any]) -> dict[str, Any]:
    return run_child("bench.idle_streams", job)


def job_for(config: common.Config, pinning: common.Pinning, streams: int | None = None) -> dict[str, Any]:
    return {
        "database_url": events_database_url(config.database_url),
        "streams": streams or (1000 if config.quick else STREAMS),
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
    parser = argparse.ArgumentParser(prog="python -m bench.idle_streams", description=DESCRIPTION)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="1,000 streams instead of 5,000")
    parser.add_argument("--streams", type=int)
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args(argv)
    if args.child:
        json.dump(child(json.load(sys.stdin)), sys.stdout, default=str)
        return 0
    config = common.Config.from_env(
        quick=args.quick, seconds=None, threads=None, pin=not args.no_pin, show_sql=False
    )
    pinning = common.choose_pinning(config.pin)
    print(f"bench.idle_streams: {pinning.describe()}", flush=True)
    data = spawn_child(job_for(config, pinning, args.streams))
    checks, notes = report(data)
    for note in notes:
        print(f"- {note}")
    common.heading("idle_streams against targets")
    common.print_checks(checks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
