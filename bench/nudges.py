"""Scenario `nudges`: live-region nudges — fan-out to N idle page streams, and what one approval costs.

1. **Fan-out**: N = 1, 100, 1,000 idle `/events/live` streams on one events process (uvicorn), spread over
   10 people. A nudge is published to Redis exactly as writers publish it (`incidents.live.publish_nudge`)
   and timed from right before the PUBLISH to the read that delivers it, per receiver, and until the last
   receiver has it. Two routes: `dash` (a dashboard nudge about no incident: delivered at once) and
   `incident` (about an incident: the hub first checks, with one query per burst, who may see it). Baseline:
   a raw Redis PUBLISH → SUBSCRIBE round trip in the same process and run; the table shows the ratio.
2. **One approval, five people**: five people in five Chromium contexts, each with the room and the
   dashboard open (the approver also the statement page: 11 pages). One step of a 3-step chain is approved
   (through the service, so only what the pages fetch *because of it* is counted); every request the pages
   then make is counted by path and its time recorded, until the pages have been quiet for a second and a
   half.

Runs in a child process (`python -m bench.nudges --child`) against its own database, like bench.fanout.
`python -m bench.nudges [--quick]` runs it standalone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from collections import Counter
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bench import common
from bench.fanout import (
    EventsServer,
    drop_database,
    events_database_url,
    percentile,
    prepare_database,
    redis_round_trip,
)
from bench.processes import run_child

if TYPE_CHECKING:
    from bench.common import Check, Context, ScenarioResult

NAME = "nudges"
DESCRIPTION = "nudge → N idle page streams (ratio to a raw Redis round trip); region fetches per approval"

NS = (1, 100, 1000)
PEOPLE = 10
QUIET_S = 1.5  # the pages are done when nothing was requested for this long
FETCH_TARGET = 20  # requests the 11 open pages may make for one approval (the issue measured 47)
REPO = common.REPO


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- Receivers ------------------------------------------------------------------------------------------


class LiveClient(asyncio.Protocol):
    """One /events/live connection: timestamps each read that carries a nudge, parses nothing else."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        self.ready = asyncio.get_running_loop().create_future()
        self.nudges: list[int] = []  # arrival ns of each nudge, in order
        self.head = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        if self.ready.done():
            self.nudges.extend([now] * data.count(b"event: nudge"))
            return
        self.head += data
        if self.head.startswith(b"HTTP/1.1 ") and not self.head.startswith(b"HTTP/1.1 200"):
            self.ready.set_exception(ConnectionError(self.head[:200].decode("latin-1")))
        elif b"event: hello" in self.head:
            self.ready.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before the stream opened: {exc!r}"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_live(host: str, port: int, paths: list[str]) -> list[LiveClient]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(200)
    clients: list[LiveClient] = []

    async def one(path: str) -> None:
        async with gate:
            _, client = await loop.create_connection(lambda: LiveClient(host, port, path), host, port)
            clients.append(client)
            await asyncio.wait_for(client.ready, 30)

    await asyncio.gather(*(one(p) for p in paths))
    return clients


async def measure(server: Any, paths: list[str], route: dict[str, Any], count: int) -> dict[str, Any]:
    from incidents import live

    clients = await open_live(server.host, server.port, paths)
    # The events process subscribes to Redis when its first stream opens: measure once it listens.
    server.wait_for_stats(lambda s: s.get("redis") == "subscribed", timeout=10)
    before = server.stats().get("counters", {})
    deliveries: list[float] = []
    lasts: list[float] = []
    missing = 0
    try:
        for i in range(count):
            t0 = time.monotonic_ns()
            live.publish_nudge({"n": ["bench", "k", i + 1], **route})
            deadline = time.monotonic() + 5
            while any(len(c.nudges) <= i for c in clients) and time.monotonic() < deadline:
                await asyncio.sleep(0.0005)
            got = [c.nudges[i] for c in clients if len(c.nudges) > i]
            missing += len(clients) - len(got)
            if got:
                deliveries.extend((g - t0) / 1e6 for g in got)
                lasts.append((max(got) - t0) / 1e6)
    finally:
        for c in clients:
            c.close()
    after = server.stats().get("counters", {})
    return {
        "n": len(paths),
        "delivery_ms": {"p50": percentile(deliveries, 50), "p99": percentile(deliveries, 99)},
        "last_ms": {"p50": percentile(lasts, 50), "p99": percentile(lasts, 99)},
        "missing": missing,
        "checks": after.get("nudge_checks", 0) - before.get("nudge_checks", 0),
    }


# --- One approval, five people -----------------------------------------------------------------------------


def approval_cast() -> tuple[Any, Any, dict[str, Any]]:
    from incidents import services
    from incidents.models import ApprovalChainTemplate, IncidentRole, OrgRole, User

    ApprovalChainTemplate.objects.update(distinct_approvers=False)
    commander = User.objects.create_user(
        "maja@bench.example", "bench-password-1234", display_name="Maja", org_role=OrgRole.CRISIS_MANAGER
    )
    incident = services.incident_declare(
        actor=commander, title="Checkout charged twice", scenario="outage", severity="sev2", summary="bench"
    )
    people: dict[str, Any] = {"commander": commander}
    for name, slug in (
        ("drafter", "drafter"),
        ("legal", "legal"),
        ("comms", "comms-lead"),
        ("exec", "executive"),
    ):
        user = User.objects.create_user(
            f"{name}@bench.example", "bench-password-1234", display_name=name.title()
        )
        services.team_add_member(
            incident=incident, actor=commander, user=user, role=IncidentRole.objects.get(slug=slug)
        )
        people[name] = user
    statement = services.statement_create(
        incident=incident,
        actor=people["drafter"],
        title="Holding statement",
        channel="x",
        body="We are aware that some customers were charged twice. We are fixing it; more by 18:00.",
    )
    statement = services.statement_submit(statement=statement, actor=people["drafter"], version_number=1)
    return incident, statement, people


def session_cookie(user: Any) -> dict[str, str]:
    """bench.common's signed-in session (second factor passed: a password-only session gets no stream),
    as a browser cookie."""
    name, _, value = common.session_cookie(user)["Cookie"].partition("=")
    return {"name": name, "value": value}


def approval_fetches(server: Any) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from incidents import services
    from incidents.models import Statement

    incident, statement, people = approval_cast()
    cookies = {name: session_cookie(user) for name, user in people.items()}
    # Playwright's sync API runs an event loop in this thread; the few ORM calls below are plain sync code
    # (this process only; the servers were started with their own environment).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    base = f"http://{server.host}:{server.port}"
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return {"error": "Debian's chromium is not installed"}
    requests: list[tuple[float, str, str]] = []  # (when, page, path): only to let page loads settle
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        pages = []
        labels: list[str] = []
        for name in people:
            cookie = cookies[name]
            paths = [f"/incidents/{incident.code}/", "/"]
            if name == "legal":
                paths.append(f"/incidents/{incident.code}/statements/{statement.code}/")
            for path in paths:
                # A context (window) per page: Chromium throttles the timers of background tabs.
                context = browser.new_context()
                context.add_cookies([{"name": cookie["name"], "value": cookie["value"], "url": base}])
                page = context.new_page()
                label = f"{name} {path}"

                def seen(request: Any, label: str = label) -> None:
                    if request.resource_type in ("xhr", "fetch"):
                        requests.append(
                            (time.monotonic(), label, request.url.removeprefix(base).split("?")[0])
                        )

                page.on("request", seen)
                page.goto(base + path)
                pages.append(page)
                labels.append(label)
        # Every page's stream is open, its lazy regions loaded and its first catch-up done.
        deadline = time.monotonic() + 30
        while not all(p.evaluate("window.warroomLive && window.warroomLive.connected()") for p in pages):
            if time.monotonic() > deadline:
                raise RuntimeError("not every page's stream opened within 30 s")
            time.sleep(0.1)
        quiet(requests, pages[0])
        # Counted by each page itself (Resource Timing), so nothing depends on when Playwright relays events.
        for page in pages:
            page.evaluate("performance.setResourceTimingBufferSize(5000); performance.clearResourceTimings()")
        fresh = Statement.objects.select_related("current_version", "incident").get(pk=statement.pk)
        version = fresh.current_version
        assert version is not None
        services.statement_approve(
            statement=fresh, actor=people["legal"], version_number=version.number, sha256=version.sha256
        )
        entries = settled_entries(pages, labels)
        for page in pages:
            page.context.close()
        browser.close()
    # The listening region polls its own version every few seconds whatever happens (not a live region).
    polls = [e for e in entries if e[1].endswith("/mentions/version/")]
    entries = [e for e in entries if not e[1].endswith("/mentions/version/")]
    by_path = Counter(_kind(path) for _, path, _, _, _ in entries)
    return {
        "pages": len(pages),
        "listening_polls_left_out": len(polls),
        "fetches": len(entries),
        "by_region": dict(by_path.most_common()),
        "by_page": [f"{start:.0f} ms {label}: {path}" for label, path, start, _, _ in entries],
        "first_fetch_ms": min((e[2] for e in entries), default=0.0),
        "fetch_ms_total": sum(e[3] for e in entries),
        "fetch_ms_max": max((e[3] for e in entries), default=0.0),
        "server_ms_total": sum(e[4] for e in entries),
    }


_ENTRIES = """() => {
  const t0 = performance.timeOrigin;
  return performance.getEntriesByType("resource")
    .filter(e => e.initiatorType === "xmlhttprequest" || e.initiatorType === "fetch")
    .map(e => [new URL(e.name).pathname, t0 + e.startTime, e.duration, Math.max(e.responseStart - e.requestStart, 0)]);
}"""


def settled_entries(pages: list[Any], labels: list[str]) -> list[tuple[str, str, float, float, float]]:
    """(page, path, start ms after the first, duration ms, time to first byte ms) of every request the pages
    made since their timings were cleared, once no page has made a new one for QUIET_S (bounded: 20 s)."""
    deadline = time.monotonic() + 20
    count, changed = -1, time.monotonic()
    rows: list[tuple[str, str, float, float, float]] = []
    while time.monotonic() < deadline:
        rows = [
            (label, path, start, duration, ttfb)
            for page, label in zip(pages, labels, strict=True)
            for path, start, duration, ttfb in page.evaluate(_ENTRIES)
        ]
        if len(rows) != count:
            count, changed = len(rows), time.monotonic()
        elif time.monotonic() - changed >= QUIET_S:
            break
        pages[0].wait_for_timeout(200)
    first = min((r[2] for r in rows), default=0.0)
    return sorted(((lab, path, start - first, d, t) for lab, path, start, d, t in rows), key=lambda r: r[2])


def _kind(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "dashboard"
    if parts[0] == "incidents" and len(parts) >= 3:
        return "statement page" if len(parts) >= 4 else f"room {parts[2]}"
    if parts[0] == "incidents":
        return "room header"
    return "/".join(parts[:2])


def quiet(requests: list[tuple[float, str, str]], page: Any) -> None:
    """Wait until no page has asked for anything for QUIET_S (bounded: 20 s). Playwright's sync API only
    delivers the pages' events while it is called, so the wait goes through it."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        last = max((t for t, _, _ in requests), default=0.0)
        if time.monotonic() - last >= QUIET_S:
            return
        page.wait_for_timeout(100)


# --- The child ----------------------------------------------------------------------------------------------


def child(job: dict[str, Any]) -> dict[str, Any]:
    if job.get("client_cpu") is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(job["client_cpu"])})
    env = prepare_database(job["database_url"])
    # The browser part needs the static files without collectstatic: let whitenoise find them.
    env = {**env, "DEBUG": "true"}
    from incidents import live
    from incidents.models import OrgRole, User
    from incidents.services import incident_declare

    people = [
        User.objects.create_user(f"p{i}@bench.example", "bench-password-1234", display_name=f"P{i}")
        for i in range(PEOPLE)
    ]
    people[0].org_role = OrgRole.CRISIS_MANAGER
    people[0].save(update_fields=["org_role"])
    room = incident_declare(
        actor=people[0], title="Bench room", scenario="outage", severity="sev2", summary=""
    )
    results: dict[str, Any] = {"phases": []}
    try:
        with EventsServer(env, job.get("server_cpu")) as server:
            rtt = asyncio.run(redis_round_trip(job["rtt_samples"]))
            results["redis_rtt_ms"] = {"p50": percentile(rtt, 50), "p99": percentile(rtt, 99)}
            for n in job["ns"]:
                for route_name, route, kwargs in (
                    ("dash", {"b": 1}, {"dash": True}),
                    ("incident", {"i": room.pk}, {"incident": room}),
                ):
                    paths = [
                        f"/events/live?t={quote(live.mint_live_token(user=people[i % PEOPLE], **kwargs))}"
                        for i in range(n)
                    ]
                    phase = asyncio.run(measure(server, paths, route, job["nudges"]))
                    phase["route"] = route_name
                    log(f"nudges: N={n:,} {route_name}: last receiver p50 {phase['last_ms']['p50']:.2f} ms")
                    results["phases"].append(phase)
                    server.wait_for_stats(lambda s: not s.get("live_streams"), timeout=10)
            results["approval"] = approval_fetches(server)
            results["events_log_tail"] = server.log_tail()
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(job["database_url"])
    return results


# --- Report -------------------------------------------------------------------------------------------------


def report(results: dict[str, Any]) -> tuple[list[Check], list[str]]:
    from bench.common import Check

    base = results["redis_rtt_ms"]["p50"]
    common.heading("nudges: nudge → N idle page streams (ms; x = multiple of a raw Redis round trip p50)")
    print(
        f"  raw Redis PUBLISH→SUBSCRIBE round trip: p50 {base:.3f} ms, p99 {results['redis_rtt_ms']['p99']:.3f} ms"
    )
    rows = []
    for p in results["phases"]:
        d, last = p["delivery_ms"], p["last_ms"]
        rows.append(
            [
                f"{p['n']:,}",
                p["route"],
                f"{d['p50']:.2f} ({d['p50'] / base:.1f}x)",
                f"{d['p99']:.2f}",
                f"{last['p50']:.2f} ({last['p50'] / base:.1f}x)",
                f"{last['p99']:.2f}",
                str(p["missing"]),
                str(p["checks"]),
            ]
        )
    common.print_table(
        ["N", "route", "delivery p50", "p99", "last receiver p50", "p99", "missing", "visibility queries"],
        rows,
    )
    checks: list[Check] = []
    missing = sum(p["missing"] for p in results["phases"])
    checks.append(Check("nudges: every nudge reached every stream", "0 missing", str(missing), missing == 0))
    approval = results.get("approval", {})
    notes: list[str] = []
    if "fetches" in approval:
        common.heading("nudges: one approval with 5 people's pages open (11 pages)")
        print(f"  region fetches: {approval['fetches']} — {approval['by_region']}")
        for line in approval.get("by_page", []):
            print(f"    {line}")
        print(
            f"  request time (browser Resource Timing): total {approval['fetch_ms_total']:.0f} ms, longest "
            f"{approval['fetch_ms_max']:.0f} ms; time to first byte (≈ server time) total "
            f"{approval['server_ms_total']:.0f} ms"
        )
        checks.append(
            Check(
                "nudges: fetches caused by one approval (5 people, 11 pages)",
                f"≤ {FETCH_TARGET}",
                str(approval["fetches"]),
                approval["fetches"] <= FETCH_TARGET,
            )
        )
    else:
        notes.append(f"nudges: the approval part did not run: {approval.get('error', 'unknown')}")
    tail = results.get("events_log_tail", "")
    if "Traceback" in tail or "ERROR" in tail:
        notes.append(f"nudges: events log:\n{tail}")
    return checks, notes


def spawn_child(job: dict[str, Any]) -> dict[str, Any]:
    return run_child("bench.nudges", job)


def job_for(config: common.Config, pinning: common.Pinning) -> dict[str, Any]:
    return {
        "database_url": events_database_url(config.database_url).replace("_events", "_nudges"),
        "ns": list(NS),
        "nudges": 20 if config.quick else 100,
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
    parser = argparse.ArgumentParser(prog="python -m bench.nudges", description=DESCRIPTION)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args(argv)
    if args.child:
        json.dump(child(json.load(sys.stdin)), sys.stdout, default=str)
        return 0
    config = common.Config.from_env(
        quick=args.quick, seconds=None, threads=None, pin=not args.no_pin, show_sql=False
    )
    pinning = common.choose_pinning(config.pin)
    data = spawn_child(job_for(config, pinning))
    checks, notes = report(data)
    for note in notes:
        print(f"- {note}")
    common.heading("nudges against targets")
    common.print_checks(checks)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
