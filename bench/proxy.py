"""Scenario `proxy`: what the one-origin proxy (warroom/proxy.py, in front of `make run` and docker-compose)
costs, each figure against the same thing without the proxy, measured in the same run.

- **Pages**: the bare view and the dashboard, straight to gunicorn and through the proxy. The proxy process
  is pinned to the server's CPU, so whatever it spends shows up as throughput the pages lose; also its CPU
  per request and the latency it adds (client p50).
- **Idle streams**: N streams through the proxy to one events process (a child process on
  `<bench database>_events`, as in idle_streams): the proxy's RSS per stream next to the events process's
  own for the same streams (the baseline), its threads, its CPU while the streams idle (heartbeats pass
  through), and that closing the browsers' side empties the events process's registry (disconnects pass).

`python -m bench.proxy [--quick] [--streams N]` runs the stream half standalone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any, cast

from bench import common, processes
from bench.processes import run_child

if TYPE_CHECKING:
    from bench.common import Context, ScenarioResult, WebServer

NAME = "proxy"
DESCRIPTION = (
    "the one-origin proxy: pages through it vs direct; idle streams through it vs the events process"
)

STREAMS = 2000
IDLE_SECONDS = 10.0
# req/s through the proxy ÷ direct, with the proxy on the server's CPU: a real page, and the cheapest request
# there is (the worst case: the proxy's fixed cost per request weighs most).
PAGE_RATIO_TARGET = 0.85
BARE_RATIO_TARGET = 0.70
RSS_TARGET_KB = 25.0  # the events process's own budget per stream
THREADS_TARGET = 10
IDLE_CPU_TARGET = 0.02  # share of one core with all streams idle
REPO = common.REPO


class ProxyProcess:
    """`python -m warroom.proxy` in a session of its own, pinned like the server; stopped on exit."""

    def __init__(
        self, *, web: tuple[str, int], events: tuple[str, int], cpu: int | None, env: dict[str, str]
    ):
        self.port = processes.free_port()
        cmd = [
            sys.executable,
            "-m",
            "warroom.proxy",
            "--listen",
            f"127.0.0.1:{self.port}",
            "--web",
            f"{web[0]}:{web[1]}",
            "--events",
            f"{events[0]}:{events[1]}",
        ]
        if cpu is not None and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(cpu), *cmd]
        self.cmd, self.cpu, self.env = cmd, cpu, env
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ProxyProcess:
        self.proc = subprocess.Popen(
            self.cmd, cwd=REPO, env=self.env, stdout=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the proxy did not start")
            time.sleep(0.05)
        if self.cpu is not None:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(self.pid, {self.cpu})
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid  # taskset execs in place


class _Through:
    """The parts of WebServer that run_load reads, pointing at the proxy (its CPU counted with the worker's)."""

    def __init__(self, server: WebServer, proxy: ProxyProcess) -> None:
        self.host, self.port, self.pinning = "127.0.0.1", proxy.port, server.pinning
        self._server, self._proxy = server, proxy

    def worker_pids(self) -> list[int]:
        return [*self._server.worker_pids(), self._proxy.pid]


# --- pages ---------------------------------------------------------------------------------------------------


def measure_pages(ctx: Context, result: ScenarioResult) -> None:
    from bench.common import Check, Measurement, measurement_rows, print_table, run_load, session_cookie
    from bench.fanout import proc_cpu_seconds
    from incidents.models import OrgRole, User

    user = User.objects.create_user(
        "proxy@bench.example",
        "bench-password-1234",
        display_name="Pia Proxy",
        org_role=OrgRole.CRISIS_MANAGER,
    )
    auth = session_cookie(user)
    common.heading("proxy: pages straight to gunicorn and through the proxy")
    rows: list[Measurement] = []
    through_rows: list[Measurement] = []
    added: dict[str, float] = {}
    per_request_us: dict[str, float] = {}
    # The events upstream is never asked for here; any closed port will do.
    with ProxyProcess(
        web=(ctx.server.host, ctx.server.port),
        events=("127.0.0.1", processes.free_port()),
        cpu=ctx.pinning.server_cpu,
        env=dict(os.environ),
    ) as proxy:
        through = cast("WebServer", _Through(ctx.server, proxy))
        for name, path in (("bare view", "/bench/bare/"), ("dashboard", "/")):
            # Direct before and after, through the proxy between: the baseline is their mean, so a machine
            # that gets busier or quieter during the run does not pass for the proxy's doing.
            before = run_load(ctx.server, path, label=name, config=ctx.config, headers=auth)
            cpu_before = proc_cpu_seconds(proxy.pid)
            via = run_load(through, path, label=name, config=ctx.config, headers=auth)
            proxy_cpu = proc_cpu_seconds(proxy.pid) - cpu_before
            after = run_load(ctx.server, path, label=name, config=ctx.config, headers=auth)
            handled = via.requests + ctx.config.warmup  # the warm-up went through the proxy too
            per_request_us[name] = proxy_cpu / handled * 1e6
            added[name] = via.client_p50 - (before.client_p50 + after.client_p50) / 2
            baseline = (before.req_per_s + after.req_per_s) / 2
            rows.append(Measurement(f"{name}: direct (before)", "—", before))
            rows.append(Measurement(f"{name}: through the proxy", "—", via, baseline_req_per_s=baseline))
            rows.append(Measurement(f"{name}: direct (after)", "—", after))
            through_rows.append(rows[-2])
    headers, body, right = measurement_rows(rows)
    headers[3] = "÷ direct (mean)"
    print_table(headers, body, right=right)
    for name, us in per_request_us.items():
        print(f"  {name}: the proxy spent {us:.0f} µs of CPU per request; client p50 {added[name]:+.2f} ms")
    result.measurements.extend(rows)
    for measured, target in zip(through_rows, (BARE_RATIO_TARGET, PAGE_RATIO_TARGET), strict=True):
        ratio = measured.ratio
        result.checks.append(
            Check(
                f"proxy: {measured.figure.split(':')[0]} req/s through the proxy ÷ direct (proxy on the server's CPU)",
                f"≥ {target:g}",
                "—" if ratio is None else f"{ratio:.2f}",
                ratio is not None and ratio >= target and measured.stats.ok,
            )
        )
    result.notes.append(
        "proxy: CPU per request in the proxy "
        + ", ".join(f"{name} {us:.0f} µs" for name, us in per_request_us.items())
        + "; client p50 through the proxy minus direct "
        + ", ".join(f"{name} {ms:+.2f} ms" for name, ms in added.items())
        + f" ({ctx.config.threads} connections on one sync worker: latency includes queueing)"
    )
    result.data["pages"] = {"added_p50_ms": added, "proxy_cpu_us_per_request": per_request_us}


# --- idle streams (child process on its own database) -----------------------------------------------------------


async def measure_streams(events: Any, proxy: ProxyProcess, paths: list[str], n: int) -> dict[str, Any]:
    from bench.fanout import StreamClient, close_streams, proc_cpu_seconds, proc_status
    from bench.idle_streams import open_many

    def client(i: int) -> StreamClient:
        return StreamClient("127.0.0.1", proxy.port, paths[i % len(paths)])

    warm, _ = await open_many(client, "127.0.0.1", proxy.port, 1)
    await close_streams(warm)
    await asyncio.to_thread(events.wait_for_stats, lambda s: s["streams"] == 0, 10)
    await asyncio.sleep(0.5)
    proxy_before, events_before = proc_status(proxy.pid), proc_status(events.pid)
    log(f"proxy: opening {n:,} streams through the proxy …")
    clients, accept_s = await open_many(client, "127.0.0.1", proxy.port, n)
    await asyncio.sleep(2.5)
    cpu_before = proc_cpu_seconds(proxy.pid)
    await asyncio.sleep(IDLE_SECONDS)
    idle_cpu = (proc_cpu_seconds(proxy.pid) - cpu_before) / IDLE_SECONDS
    proxy_after, events_after = proc_status(proxy.pid), proc_status(events.pid)
    stats = await asyncio.to_thread(events.stats)
    lost = sum(1 for c in clients if c.lost)
    closed_at = time.perf_counter()
    await close_streams(clients)
    final = await asyncio.to_thread(events.wait_for_stats, lambda s: s["streams"] == 0, 30)
    return {
        "n": n,
        "accept_s": accept_s,
        "proxy_rss_per_stream_kb": (proxy_after["VmRSS"] - proxy_before["VmRSS"]) / n,
        "events_rss_per_stream_kb": (events_after["VmRSS"] - events_before["VmRSS"]) / n,
        "proxy_rss_kb": (proxy_before["VmRSS"], proxy_after["VmRSS"]),
        "proxy_threads": proxy_after["Threads"],
        "proxy_idle_cpu_share": idle_cpu,
        "streams_reported": stats["streams"],
        "lost_connections": lost,
        "streams_after_close": final["streams"],
        "cleanup_s": time.perf_counter() - closed_at,
    }


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def child(job: dict[str, Any]) -> dict[str, Any]:
    from bench.fanout import EventsServer, drop_database, prepare_database
    from bench.idle_streams import create_rooms, raise_fd_limit

    if job.get("client_cpu") is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(job["client_cpu"])})
    # Inherited by the proxy, which holds two descriptors per stream.
    limits = raise_fd_limit(2 * job["streams"] + 500)
    env = prepare_database(job["database_url"])
    paths = create_rooms()
    try:
        with (
            EventsServer(env, job.get("server_cpu")) as events,
            ProxyProcess(
                web=("127.0.0.1", processes.free_port()),
                events=(events.host, events.port),
                cpu=job.get("server_cpu"),
                env=env,
            ) as proxy,
        ):
            results = asyncio.run(measure_streams(events, proxy, paths, job["streams"]))
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(job["database_url"])
    return {**results, "limits": limits}


def stream_checks(s: dict[str, Any]) -> list[Any]:
    from bench.common import Check

    common.heading(f"proxy: {s['n']:,} idle streams through the proxy to one events process ({s['limits']})")
    ratio = (
        s["proxy_rss_per_stream_kb"] / s["events_rss_per_stream_kb"]
        if s["events_rss_per_stream_kb"]
        else None
    )
    common.print_table(
        ["figure", "proxy", "baseline: the events process, same streams", "÷ baseline"],
        [
            [
                "RSS per stream",
                f"{s['proxy_rss_per_stream_kb']:.1f} kB",
                f"{s['events_rss_per_stream_kb']:.1f} kB",
                "—" if ratio is None else f"{ratio:.2f}",
            ],
            [
                "RSS (before → all open)",
                f"{s['proxy_rss_kb'][0] / 1024:.0f} → {s['proxy_rss_kb'][1] / 1024:.0f} MB",
                "",
                "",
            ],
            ["threads", str(s["proxy_threads"]), "", ""],
            ["idle CPU (share of a core)", f"{s['proxy_idle_cpu_share']:.2%}", "", ""],
            ["accept all", f"{s['accept_s']:.2f} s", "", ""],
            [
                "streams left in the events process after the clients left",
                f"{s['streams_after_close']} ({s['cleanup_s']:.1f} s)",
                "",
                "",
            ],
        ],
    )
    return [
        Check(
            f"proxy: RSS per idle stream at {s['n']:,}",
            f"≤ {RSS_TARGET_KB:g} kB",
            f"{s['proxy_rss_per_stream_kb']:.1f} kB"
            + ("" if ratio is None else f" ({ratio:.2f}x the events process's)"),
            s["proxy_rss_per_stream_kb"] <= RSS_TARGET_KB,
        ),
        Check(
            f"proxy: threads with {s['n']:,} streams",
            f"≤ {THREADS_TARGET}",
            str(s["proxy_threads"]),
            s["proxy_threads"] <= THREADS_TARGET,
        ),
        Check(
            f"proxy: CPU with {s['n']:,} idle streams",
            f"≤ {IDLE_CPU_TARGET:.0%} of a core",
            f"{s['proxy_idle_cpu_share']:.2%}",
            s["proxy_idle_cpu_share"] <= IDLE_CPU_TARGET,
        ),
        Check(
            "proxy: every stream open, none dropped, events registry empty after the clients left",
            "all / 0 / 0",
            f"{s['streams_reported']:,} / {s['lost_connections']} / {s['streams_after_close']}",
            s["streams_reported"] == s["n"] and s["lost_connections"] == 0 and s["streams_after_close"] == 0,
        ),
    ]


def spawn_child(job: dict[str, Any]) -> dict[str, Any]:
    """Run `child(job)` in a fresh interpreter (its own Django settings and database)."""
    return run_child("bench.proxy", job)


def job_for(config: common.Config, pinning: common.Pinning, streams: int | None = None) -> dict[str, Any]:
    from bench.fanout import events_database_url

    return {
        "database_url": events_database_url(config.database_url) + "_proxy",
        "streams": streams or (500 if config.quick else STREAMS),
        "server_cpu": pinning.server_cpu,
        "client_cpu": pinning.client_cpu,
    }


def run(ctx: Context) -> ScenarioResult:
    from bench.common import ScenarioResult

    result = ScenarioResult(NAME)
    measure_pages(ctx, result)
    data = spawn_child(job_for(ctx.config, ctx.pinning))
    result.checks.extend(stream_checks(data))
    result.data["streams"] = data
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.proxy", description=DESCRIPTION)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="500 streams instead of 2,000")
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
    print(f"bench.proxy: {pinning.describe()}", flush=True)
    checks = stream_checks(spawn_child(job_for(config, pinning, args.streams)))
    common.heading("proxy against targets")
    common.print_checks(checks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
