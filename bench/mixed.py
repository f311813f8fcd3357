"""Scenario `mixed` (B9): mixed load for 60 s — 50 writers, 500 readers streaming, 20 page loads per second.

- gunicorn as `make run` starts it (2 sync workers) and one events process (uvicorn), both unpinned (the
  load uses both cores, as in production); the clients in this process.
- **Writers**: 50 people, 5 on each of 10 incidents' teams, each posting a timeline note every 10 s (random
  phase) through the composer's real POST (`incidents:timeline-post`, session from
  `bench.common.session_cookie`, CSRF as the page sends it): 5 POSTs/s.
- **Readers**: 500 timeline streams (50 per incident, signed for the incident's team members), open from the
  start, `after=` the newest seq as the room page connects.
- **Pages**: 20 page loads per second, open loop (a slow answer does not slow the next request), alternating
  the dashboard and an incident's room, each as one of the writers.
- **Fan-out**: from right before a POST is sent to each of its incident's 50 readers reading the entry (found
  by a marker in its text).

Targets: p99 page ≤ 50 ms, p99 POST ≤ 50 ms, p99 fan-out ≤ 100 ms; 0 errors (a non-2xx/3xx answer, a
refused connection, an entry a reader never got). Own database; `python -m bench.mixed [--quick]` (15 s).
"""

from __future__ import annotations

import asyncio
import random
import re
import secrets
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from bench import common
from bench.fanout import (
    EventsServer,
    close_streams,
    drop_database,
    events_database_url,
    open_streams,
    parse_entry_events,
    percentile,
    prepare_database,
)
from bench.watchers import get

if TYPE_CHECKING:
    from bench.common import Check

NAME = "mixed"
DESCRIPTION = "B9: 50 writers + 500 streams + 20 pages/s: p99 page/POST/fan-out ≤ 50/50/100 ms, 0 errors"

INCIDENTS = 10
WRITERS = 50
READERS = 500
PAGES_PER_S = 20.0
POST_EVERY = 10.0
MARKER = re.compile(rb"Mixed load (mx\d+k\d+x)")
TARGETS_MS = {"page": 50.0, "post": 50.0, "fanout": 100.0}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Web(common.WebServer):
    """gunicorn with the launcher's 2 sync workers (the bench's own WebServer has one)."""

    def command(self) -> list[str]:
        argv = super().command()
        argv[argv.index("--workers") + 1] = "2"
        return argv


def create_incidents() -> tuple[list[Any], list[tuple[Any, Any]]]:
    """INCIDENTS incidents; WRITERS people, WRITERS // INCIDENTS on each team: (incidents, [(writer, incident)])."""
    from incidents import services
    from incidents.models import IncidentRole, OrgRole, User

    commander = User.objects.create_user(
        "commander@bench.example", "bench-password-1234", display_name="Maja", org_role=OrgRole.CRISIS_MANAGER
    )
    scribe = IncidentRole.objects.get(slug="scribe")  # may post to the timeline
    incidents = []
    writers = []
    for n in range(INCIDENTS):
        incident = services.incident_declare(
            actor=commander,
            title=f"Mixed load incident {n}",
            scenario="outage",
            severity="sev2",
            summary="Mixed-load benchmark.",
            affected_platforms=["x"],
        )
        incidents.append(incident)
        for w in range(WRITERS // INCIDENTS):
            user = User.objects.create_user(
                f"writer{n}-{w}@bench.example", "bench-password-1234", display_name=f"Writer {n}-{w}"
            )
            services.team_add_member(incident=incident, actor=commander, user=user, role=scribe)
            writers.append((user, incident))
    return incidents, writers


async def post(web: Any, path: str, headers: dict[str, str], body: str) -> tuple[int, float]:
    form = urlencode({"kind": "note", "body": body, "idempotency_key": uuid.uuid4().hex}).encode()
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {web.host}:{web.port}",
        "Content-Type: application/x-www-form-urlencoded",
        f"Content-Length: {len(form)}",
        "Connection: close",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    t0 = time.monotonic()
    reader, writer = await asyncio.open_connection(web.host, web.port)
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + form)
    await writer.drain()
    response = await reader.read()
    writer.close()
    status = int(response[9:12]) if response.startswith(b"HTTP/1.1 ") else 0
    return status, (time.monotonic() - t0) * 1000


async def load(
    job: dict[str, Any], web: Any, server: Any, people: list[dict[str, Any]], streams: list[tuple[str, int]]
) -> dict[str, Any]:
    readers = await open_streams(server.host, server.port, [path for path, _ in streams])
    log(f"mixed: {len(readers)} streams open; {job['seconds']:.0f} s of load …")
    rng = random.Random(9)
    seconds = job["seconds"]
    start = time.monotonic() + 0.5
    stop = start + seconds
    pages: list[float] = []
    page_errors: dict[str, int] = {}
    posts: list[float] = []
    post_errors: dict[str, int] = {}
    sent: dict[str, tuple[int, int]] = {}  # marker → (incident index, t0 ns)
    answered: dict[str, int] = {}  # marker → ns the POST's answer was read (committed by then)

    async def writer(person: dict[str, Any]) -> None:
        due = start + rng.uniform(0, POST_EVERY)
        n = 0
        while due < stop:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            marker = f"mx{person['index']}k{n}x"
            sent[marker] = (person["incident"], time.monotonic_ns())
            try:
                status, ms = await post(
                    web, person["post_path"], person["post_headers"], f"Mixed load {marker}"
                )
            except OSError as exc:
                status, ms = 0, 0.0
                post_errors[type(exc).__name__] = post_errors.get(type(exc).__name__, 0) + 1
            if status in (200, 201, 302, 303):
                posts.append(ms)
                answered[marker] = time.monotonic_ns()
            elif status:
                post_errors[str(status)] = post_errors.get(str(status), 0) + 1
            n += 1
            due += POST_EVERY

    async def page(k: int) -> None:
        person = people[k % len(people)]
        path = "/" if k % 2 == 0 else person["room_path"]
        try:
            status, ms = await get(web.host, web.port, path, person["cookie"])
        except OSError as exc:
            page_errors[type(exc).__name__] = page_errors.get(type(exc).__name__, 0) + 1
            return
        if status == 200:
            pages.append(ms)
        else:
            page_errors[str(status)] = page_errors.get(str(status), 0) + 1

    async def pager() -> None:
        tasks = []
        k = 0
        while (due := start + k / PAGES_PER_S) < stop:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            tasks.append(asyncio.ensure_future(page(k)))
            k += 1
        await asyncio.gather(*tasks)

    cpu0 = {"web": sum(_cpu(p) for p in web.pids()), "events": _cpu(server.pid)}
    await asyncio.gather(pager(), *(writer(p) for p in people))
    wall = time.monotonic() - start
    cpu = {"web": sum(_cpu(p) for p in web.pids()) - cpu0["web"], "events": _cpu(server.pid) - cpu0["events"]}
    await asyncio.sleep(1.0)  # the last posts' entries arrive

    fanout: list[float] = []
    after_answer: list[float] = []
    missing = 0
    by_incident: dict[int, list[Any]] = {}
    for client, (_, index) in zip(readers, streams, strict=True):
        by_incident.setdefault(index, []).append(client)
    arrivals: list[dict[str, int]] = []
    for client in readers:
        seen: dict[str, int] = {}
        for _, ns, event in parse_entry_events(client.records):
            for marker in MARKER.findall(event):
                seen.setdefault(marker.decode(), ns)
        arrivals.append(seen)
    index_of = {id(c): i for i, c in enumerate(readers)}
    for marker, (incident, t0) in sent.items():
        for client in by_incident.get(incident, []):
            arrived = arrivals[index_of[id(client)]].get(marker)
            if arrived is None:
                missing += 1
            else:
                fanout.append((arrived - t0) / 1e6)
                if marker in answered:
                    after_answer.append((arrived - answered[marker]) / 1e6)
    dropped = sum(1 for c in readers if c.lost)
    await close_streams(readers)
    return {
        "seconds": seconds,
        "wall_s": wall,
        "pages": len(pages),
        "pages_per_s": len(pages) / wall,
        "page_ms": _summary(pages),
        "page_errors": page_errors,
        "posts": len(posts),
        "post_ms": _summary(posts),
        "post_errors": post_errors,
        "fanout_ms": _summary(fanout),
        "fanout_after_answer_ms": _summary(after_answer),
        "fanout_deliveries": len(fanout),
        "fanout_missing": missing,
        "streams": len(readers),
        "streams_dropped": dropped,
        "cpu_share": {k: v / wall for k, v in cpu.items()},
    }


def _cpu(pid: int) -> float:
    from bench.fanout import proc_cpu_seconds

    try:
        return proc_cpu_seconds(pid)
    except OSError:
        return 0.0


def _summary(values: list[float]) -> dict[str, float]:
    return {"p50": percentile(values, 50), "p99": percentile(values, 99), "max": max(values, default=0.0)}


def child(job: dict[str, Any]) -> dict[str, Any]:
    env = prepare_database(job["database_url"])
    from django.conf import settings
    from django.urls import reverse

    from incidents import live

    incidents, writers = create_incidents()
    people = []
    for i, (user, incident) in enumerate(writers):
        csrf = secrets.token_hex(16)
        cookie = common.session_cookie(user)["Cookie"]
        people.append(
            {
                "index": i,
                "incident": incidents.index(incident),
                "cookie": {"Cookie": cookie},
                "room_path": incident.room_url,
                "post_path": reverse("incidents:timeline-post", args=[incident.code]),
                "post_headers": {
                    "Cookie": f"{cookie}; {settings.CSRF_COOKIE_NAME}={csrf}",
                    "X-CSRFToken": csrf,
                    "HX-Request": "true",
                },
            }
        )
    streams = []
    for r in range(READERS):
        n = r % INCIDENTS
        incident = incidents[n]
        incident.refresh_from_db()
        member = writers[n * (WRITERS // INCIDENTS) + r // INCIDENTS % (WRITERS // INCIDENTS)][0]
        token = quote(live.mint_stream_token(user=member, incident=incident))
        streams.append((f"/events/timeline?t={token}&after={incident.timeline_seq}", n))
    pinning = common.Pinning(None, None, "bench.mixed (unpinned: both cores)")
    try:
        with Web(env, pinning) as web, EventsServer(env, None) as server:
            # Warm both workers and the events process (imports, templates, pools) before measuring.
            for person in people[:4]:
                asyncio.run(get(web.host, web.port, person["room_path"], person["cookie"]))
                asyncio.run(get(web.host, web.port, "/", person["cookie"]))
            bare = [asyncio.run(get(web.host, web.port, "/bench/bare/", {}))[1] for _ in range(50)]
            results = asyncio.run(load(job, web, server, people, streams))
            results["bare_ms"] = _summary(bare)
            results["events_log_tail"] = server.log_tail()
            results["web_log_tail"] = web.log_tail()
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(job["database_url"])
    return results


def report(results: dict[str, Any]) -> tuple[list[Check], list[str]]:
    from bench.common import Check

    r = results
    common.heading(
        f"mixed (B9): {WRITERS} writers, {READERS} streams, {PAGES_PER_S:g} pages/s for {r['seconds']:.0f} s"
    )
    rows = []
    for key, label, count in (
        ("page_ms", "page loads (dashboard, room)", r["pages"]),
        ("post_ms", "timeline POSTs", r["posts"]),
        ("fanout_ms", "fan-out (POST sent → a reader has it)", r["fanout_deliveries"]),
        ("fanout_after_answer_ms", "  of which after the POST's answer", r["fanout_deliveries"]),
        ("bare_ms", "baseline: bare view, alone, before the load", 50),
    ):
        s = r[key]
        rows.append([label, f"{count:,}", f"{s['p50']:.1f}", f"{s['p99']:.1f}", f"{s['max']:.1f}"])
    common.print_table(["", "count", "p50 ms", "p99 ms", "max ms"], rows, right=(1, 2, 3, 4))
    cpu = r["cpu_share"]
    print(f"  CPU (share of a core): gunicorn {cpu['web'] * 100:.0f} %, events {cpu['events'] * 100:.0f} %")
    errors = (
        sum(r["page_errors"].values())
        + sum(r["post_errors"].values())
        + r["fanout_missing"]
        + r["streams_dropped"]
    )
    checks = [
        Check(
            f"mixed (B9): p99 {what}",
            f"≤ {TARGETS_MS[what]:g} ms",
            f"{r[key]['p99']:.1f} ms",
            r[key]["p99"] <= TARGETS_MS[what],
        )
        for what, key in (("page", "page_ms"), ("post", "post_ms"), ("fanout", "fanout_ms"))
    ]
    checks.append(
        Check(
            "mixed (B9): errors (pages, POSTs, entries a reader never got, streams dropped)",
            "0",
            f"{errors} (pages {r['page_errors']}, POSTs {r['post_errors']}, missing {r['fanout_missing']}, "
            f"dropped {r['streams_dropped']})",
            errors == 0,
        )
    )
    notes = [f"mixed: {r['pages_per_s']:.1f} pages/s answered 200 of the {PAGES_PER_S:g} asked"]
    for name in ("events_log_tail", "web_log_tail"):
        if "Traceback" in r.get(name, ""):
            notes.append(f"mixed: {name}:\n{r[name]}")
    return checks, notes


def job_for(config: common.Config, pinning: common.Pinning) -> dict[str, Any]:
    return {
        "database_url": events_database_url(config.database_url).replace("_events", "_mixed"),
        "seconds": 15.0 if config.quick else 60.0,
    }


SCENARIO = common.ChildScenario(NAME, "bench.mixed", DESCRIPTION, job_for, child, report)
run = SCENARIO.run
main = SCENARIO.main


if __name__ == "__main__":
    raise SystemExit(main())
