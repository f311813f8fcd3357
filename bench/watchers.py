"""Scenario `watchers` (B8): 200 people watching their dashboards, idle — the streams' CPU against the polling
the pages did before the push path (issue #15).

- **Polling, as before**: each watcher's dashboard asked gunicorn for the open incidents every 10 s
  (`GET /` with `HX-Target: open-incidents`), the bell every 5 s (`/notifications/bell/`) and "My approvals"
  every 30 s (`/approvals/`), each as htmx sent it; the watchers start at random moments in those intervals,
  as pages opened at different times do. Figure: gunicorn's CPU (master and its one sync worker) per second.
- **Streams, now**: the same 200 dashboards each hold the one `/events/live` stream the page opens
  (`incidents.live.live_url(dash=True)`, signed for its person) on one events process, and ask nothing else.
  Figure: the events process's CPU per second (its authorisation ticks, heartbeats), measured after every
  stream has said hello; gunicorn's idle CPU over the same window is shown beside it.

Target: streams ÷ polling ≤ 1/10. Both halves measure the same number of seconds on the same pinned CPU, in
one run. Runs in a child process against its own database (`<bench database>_watchers`), with its own
gunicorn and uvicorn; `python -m bench.watchers [--quick]` runs it standalone.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from typing import TYPE_CHECKING, Any

from bench import common
from bench.fanout import (
    EventsServer,
    drop_database,
    events_database_url,
    percentile,
    prepare_database,
    proc_cpu_seconds,
)
from bench.nudges import open_live

if TYPE_CHECKING:
    from bench.common import Check

NAME = "watchers"
DESCRIPTION = "B8: 200 idle dashboards — the streams' CPU against the polling the pages did before"

WATCHERS = 200
PEOPLE = 20  # the watchers are these people's dashboards, ten each (tabs, screens)
INCIDENTS = 5  # open incidents every person is on (the dashboard lists them; notifications about them)
RATIO_TARGET = 0.1
# What a dashboard polled before the push path (git 591ffbf removed these triggers): (path, HX-Target, every s)
POLLS = (
    ("/", "open-incidents", 10.0),
    ("/notifications/bell/", "bell", 5.0),
    ("/approvals/", "approvals-queue", 30.0),
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def create_people() -> list[Any]:
    """PEOPLE people, each on INCIDENTS open incidents (so the dashboard lists them and the bell has unread
    notifications about them)."""
    from incidents import services
    from incidents.models import IncidentRole, OrgRole, User

    commander = User.objects.create_user(
        "commander@bench.example", "bench-password-1234", display_name="Maja", org_role=OrgRole.CRISIS_MANAGER
    )
    people = [
        User.objects.create_user(
            f"watcher{i}@bench.example", "bench-password-1234", display_name=f"Watcher {i}"
        )
        for i in range(PEOPLE)
    ]
    observer = IncidentRole.objects.get(slug="observer")
    for n in range(INCIDENTS):
        incident = services.incident_declare(
            actor=commander,
            title=f"Watched incident {n}",
            scenario="outage",
            severity="sev2",
            summary="Watchers benchmark.",
            affected_platforms=["x"],
        )
        for person in people:
            services.team_add_member(incident=incident, actor=commander, user=person, role=observer)
    return people


async def get(host: str, port: int, path: str, headers: dict[str, str]) -> tuple[int, float]:
    """One request as htmx sends it; gunicorn's sync worker closes the connection after the response."""
    t0 = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{head}Connection: close\r\n\r\n".encode())
    await writer.drain()
    body = await reader.read()
    writer.close()
    status = int(body[9:12]) if body.startswith(b"HTTP/1.1 ") else 0
    return status, (time.monotonic() - t0) * 1000


async def poll(web: Any, cookies: list[dict[str, str]], seconds: float, seed: int) -> dict[str, Any]:
    """WATCHERS dashboards polling as before for `seconds`; gunicorn's CPU over exactly that window."""
    rng = random.Random(seed)
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    start = time.monotonic() + 0.5
    stop = start + seconds

    async def one(cookie: dict[str, str], path: str, target: str, every: float) -> None:
        due = start + rng.uniform(0, every)
        headers = {**cookie, "HX-Request": "true", "HX-Target": target, "HX-Current-URL": "/"}
        while due < stop:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            status, ms = await get(web.host, web.port, path, headers)
            statuses[status] = statuses.get(status, 0) + 1
            latencies.append(ms)
            due += every

    pids = web.pids()
    tasks = [
        one(cookies[w % len(cookies)], path, target, every)
        for w in range(WATCHERS)
        for path, target, every in POLLS
    ]
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    cpu0 = sum(proc_cpu_seconds(p) for p in pids)
    await asyncio.gather(*tasks)
    cpu = sum(proc_cpu_seconds(p) for p in pids) - cpu0
    wall = time.monotonic() - start
    return {
        "requests": sum(statuses.values()),
        "statuses": {str(k): v for k, v in statuses.items()},
        "req_per_s": sum(statuses.values()) / wall,
        "latency_ms": {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99)},
        "cpu_s": cpu,
        "wall_s": wall,
        "cpu_share": cpu / wall,
    }


async def streams(server: Any, web: Any, paths: list[str], seconds: float) -> dict[str, Any]:
    """WATCHERS open dashboard streams, idle for `seconds`: the events process's CPU, and gunicorn's."""
    t0 = time.monotonic()
    clients = await open_live(server.host, server.port, paths)
    opened = time.monotonic() - t0
    try:
        server.wait_for_stats(lambda s: s.get("live_streams") == len(paths), timeout=30)
        await asyncio.sleep(1.0)  # the connect burst's own work settles
        pids = web.pids()
        events0, web0, start = (
            proc_cpu_seconds(server.pid),
            sum(proc_cpu_seconds(p) for p in pids),
            time.monotonic(),
        )
        await asyncio.sleep(seconds)
        wall = time.monotonic() - start
        events_cpu = proc_cpu_seconds(server.pid) - events0
        web_cpu = sum(proc_cpu_seconds(p) for p in pids) - web0
        stats = server.stats()
        dropped = sum(1 for c in clients if c.transport is None or c.transport.is_closing())
    finally:
        for client in clients:
            client.close()
    return {
        "streams": len(clients),
        "open_s": opened,
        "live_streams_seen": stats.get("live_streams"),
        "events_cpu_s": events_cpu,
        "web_cpu_s": web_cpu,
        "wall_s": wall,
        "cpu_share": events_cpu / wall,
        "web_cpu_share": web_cpu / wall,
        "dropped": dropped,
    }


def child(job: dict[str, Any]) -> dict[str, Any]:
    if job.get("client_cpu") is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(job["client_cpu"])})
    env = prepare_database(job["database_url"])
    from incidents import live

    people = create_people()
    cookies = [common.session_cookie(p) for p in people]
    paths = [live.live_url(user=people[w % PEOPLE], dash=True) for w in range(WATCHERS)]
    pinning = common.Pinning(job.get("server_cpu"), job.get("client_cpu"), "bench.watchers")
    results: dict[str, Any] = {"watchers": WATCHERS, "people": PEOPLE, "seconds": job["seconds"]}
    try:
        with common.WebServer(env, pinning) as web:
            # Warm the worker (imports, template cache) before the measured window.
            for path, target, _ in POLLS:
                asyncio.run(
                    get(web.host, web.port, path, {**cookies[0], "HX-Request": "true", "HX-Target": target})
                )
            log(f"watchers: {WATCHERS} dashboards polling as before for {job['seconds']:.0f} s …")
            results["polling"] = asyncio.run(poll(web, cookies, job["seconds"], seed=15))
            with EventsServer(env, job.get("server_cpu")) as server:
                log(f"watchers: {WATCHERS} dashboard streams, idle for {job['seconds']:.0f} s …")
                results["streams"] = asyncio.run(streams(server, web, paths, job["seconds"]))
                results["events_log_tail"] = server.log_tail()
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(job["database_url"])
    return results


def _pct(share: float) -> str:
    return f"{share * 100:.2f} %"


def report(results: dict[str, Any]) -> tuple[list[Check], list[str]]:
    from bench.common import Check

    p, s = results["polling"], results["streams"]
    common.heading(f"watchers (B8): {results['watchers']} idle dashboards, {results['seconds']:.0f} s each")
    common.print_table(
        ["", "requests", "req/s", "p50 / p99 ms", "CPU (share of a core)"],
        [
            [
                "polling as before (gunicorn)",
                f"{p['requests']:,}",
                f"{p['req_per_s']:.1f}",
                f"{p['latency_ms']['p50']:.1f} / {p['latency_ms']['p99']:.1f}",
                _pct(p["cpu_share"]),
            ],
            [
                "streams now (events process)",
                "0",
                "0",
                "",
                _pct(s["cpu_share"]),
            ],
            ["  gunicorn meanwhile (idle)", "", "", "", _pct(s["web_cpu_share"])],
        ],
        right=(1, 2, 4),
    )
    ratio = s["cpu_share"] / p["cpu_share"] if p["cpu_share"] else None
    errors = sum(v for k, v in p["statuses"].items() if k != "200")
    checks = [
        Check(
            "watchers (B8): streams' CPU ÷ the polling's, 200 idle dashboards",
            f"≤ {RATIO_TARGET:g}",
            f"{ratio:.3f} ({_pct(s['cpu_share'])} ÷ {_pct(p['cpu_share'])})"
            if ratio is not None
            else "no polling CPU measured",
            ratio is not None and ratio <= RATIO_TARGET,
        ),
        Check(
            "watchers (B8): every poll answered 200, every stream open to the end",
            "0 / 0",
            f"{errors} / {s['dropped']}",
            errors == 0 and s["dropped"] == 0 and s["streams"] == results["watchers"],
        ),
    ]
    expected = results["watchers"] * sum(1 / every for _, _, every in POLLS)
    notes = [
        f"watchers: polling statuses {p['statuses']}; {s['streams']} streams opened in {s['open_s']:.2f} s",
        f"watchers: the pages asked for {expected:.1f} req/s; gunicorn (1 sync worker) answered "
        f"{p['req_per_s']:.1f}/s — when it falls behind, the polling's CPU is what it could get, so the "
        "ratio is an upper bound. PostgreSQL's CPU for the polls is not counted (the machine's other "
        "databases share its processes).",
    ]
    tail = results.get("events_log_tail", "")
    if "Traceback" in tail or "ERROR" in tail:
        notes.append(f"watchers: events log:\n{tail}")
    return checks, notes


def job_for(config: common.Config, pinning: common.Pinning) -> dict[str, Any]:
    return {
        "database_url": events_database_url(config.database_url).replace("_events", "_watchers"),
        "seconds": 10.0 if config.quick else 30.0,
        "server_cpu": pinning.server_cpu,
        "client_cpu": pinning.client_cpu,
    }


SCENARIO = common.ChildScenario(NAME, "bench.watchers", DESCRIPTION, job_for, child, report)
run = SCENARIO.run
main = SCENARIO.main


if __name__ == "__main__":
    raise SystemExit(main())
