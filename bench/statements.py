"""Scenario `statements`: approving a chain step and publishing, as the browser sends them.

Both are one-shot POSTs (each consumes a statement in the right state), so they are not a throughput loop:
N statements are prepared through the services (submitted and waiting for Legal; or approved by every step),
then one client sends the N POSTs back to back over HTTP to the same gunicorn worker — the htmx form posts of
the statement page, answered with its live fragment — and the server time (`Server-Timing`) and query count
(`X-Query-Count`) of each are collected. The baseline is the bare view POSTed the same way (same session,
same CSRF check, same middleware) in the same run; `÷ bare` is requests per second over the bare view's.

Targets (issue 5): approve and publish server time p50 ≤ 30 ms each. The figures include everything the
request does in production — locks, the approval or publication row, the timeline entry (rendered once),
notifications, the e-mail outbox rows and the Celery task that sends them (enqueued into the benchmark's own
broker database, as a request does in production; the sending is a worker's job, not the request's).
"""

from __future__ import annotations

import http.client
import os
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from bench import loadgen
from bench.common import (
    Check,
    Context,
    LoadStats,
    Measurement,
    ScenarioResult,
    heading,
    measurement_rows,
    print_table,
    session_cookie,
    settle_database,
)

if TYPE_CHECKING:
    from incidents.models import Incident, Statement, User

NAME = "statements"
DESCRIPTION = (
    "approve one chain step and publish (htmx POSTs): server time p50/p99 and queries vs a bare POST"
)
TARGET_MS = 30.0
BARE = "/bench/bare/"
WARMUP = 10  # requests of each kind thrown away first (imports, template compilation, pool)


def _cast(domain: str = "statements.bench.example") -> tuple[Incident, dict[str, User]]:
    from incidents import services
    from incidents.models import IncidentRole, OrgRole, User

    people = {
        name: User.objects.create_user(
            f"{name}@{domain}",
            "bench-password-1234",
            display_name=display,
            org_role=OrgRole.CRISIS_MANAGER if name == "commander" else OrgRole.MEMBER,
            time_zone="Europe/Warsaw",
        )
        for name, display in [
            ("commander", "Clara Commander"),
            ("drafter", "Dan Drafter"),
            ("legal", "Lena Legal"),
            ("comms", "Carl Comms"),
            ("executive", "Eva Executive"),
            ("publisher", "Paul Publisher"),
        ]
    }
    incident = services.incident_declare(
        actor=people["commander"],
        title="Statements benchmark: checkout charged customers twice",
        scenario="outage",
        severity="sev2",
    )
    for name, slug in [
        ("drafter", "drafter"),
        ("legal", "legal"),
        ("comms", "comms-lead"),
        ("executive", "executive"),
        ("publisher", "social"),
    ]:
        services.team_add_member(
            incident=incident,
            actor=people["commander"],
            user=people[name],
            role=IncidentRole.objects.get(slug=slug),
        )
    return incident, people


def _prepare(incident: Incident, people: dict[str, User], count: int, *, approved: bool) -> list[Statement]:
    """`count` statements in review waiting for Legal, or approved by every step and ready to publish."""
    from django.db import transaction

    from incidents import services
    from incidents.models import Statement

    made = []
    with transaction.atomic():
        for n in range(count):
            statement = services.statement_create(
                incident=incident,
                actor=people["drafter"],
                channel="x",
                title=f"Holding statement {n}",
                body=(
                    f"We know some payments at checkout were taken twice ({n}). We're sorry: every duplicate "
                    "is refunded automatically. We will share our next update by 16:00 CET."
                ),
            )
            statement = services.statement_submit(
                statement=statement, actor=people["drafter"], version_number=1
            )
            if approved:
                for who in ("legal", "comms", "executive"):
                    statement = Statement.objects.select_related("current_version", "incident").get(
                        pk=statement.pk
                    )
                    assert statement.current_version is not None
                    services.statement_approve(
                        statement=statement,
                        actor=people[who],
                        version_number=1,
                        sha256=statement.current_version.sha256,
                    )
            made.append(Statement.objects.select_related("current_version").get(pk=statement.pk))
    return made


def _headers(user: User) -> dict[str, str]:
    from django.conf import settings

    csrf = secrets.token_hex(16)  # a 32-character secret: Django accepts it unmasked in the header
    return {
        "Cookie": f"{session_cookie(user)['Cookie']}; {settings.CSRF_COOKIE_NAME}={csrf}",
        "X-CSRFToken": csrf,
        "HX-Request": "true",
        "HX-Target": "statement-live",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def _post_series(
    ctx: Context, label: str, requests: list[tuple[str, dict[str, Any]]], headers: dict[str, str]
) -> LoadStats:
    """POST each (path, form) once, back to back, from this process pinned to the client CPU."""
    cpu = ctx.pinning.client_cpu
    previous = os.sched_getaffinity(0) if cpu is not None and hasattr(os, "sched_setaffinity") else None
    if cpu is not None and previous is not None:
        os.sched_setaffinity(0, {cpu})
    conn = http.client.HTTPConnection(ctx.server.host, ctx.server.port, timeout=30)
    samples: list[tuple[int, float, float, int]] = []
    errors: list[str] = []
    server_pids = ctx.server.worker_pids()
    server_before = [loadgen._proc_cpu_seconds(pid) for pid in server_pids]
    pg_before = loadgen._postgres_cpu()
    client_before = time.process_time()
    start = time.perf_counter()
    try:
        for path, form in requests:
            job = loadgen._Job(
                {"host": ctx.server.host, "port": ctx.server.port, "path": path, "headers": headers}
            )
            try:
                samples.append(_one_post(conn, job, urlencode(form)))
            except (OSError, http.client.HTTPException) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                conn.close()
    finally:
        conn.close()
        if previous is not None:
            os.sched_setaffinity(0, previous)
    elapsed = time.perf_counter() - start
    server_after = [loadgen._proc_cpu_seconds(pid) for pid in server_pids]
    server_cpu = sum(
        a - b for b, a in zip(server_before, server_after, strict=True) if a is not None and b is not None
    )
    pg_after = loadgen._postgres_cpu()
    pg_cpu = sum(pg_after[pid] - pg_before[pid] for pid in pg_after.keys() & pg_before.keys())
    return LoadStats.from_result(
        label,
        requests[0][0] if requests else "",
        {
            "elapsed": elapsed,
            "client_cpu": (time.process_time() - client_before) / elapsed if elapsed else 0.0,
            "server_cpu": server_cpu / elapsed if elapsed and server_pids else None,
            "postgres_cpu": pg_cpu / elapsed if elapsed else 0.0,
            "samples": samples,
            "errors": errors[:50],
            "error_count": len(errors),
        },
    )


def _one_post(conn: http.client.HTTPConnection, job: Any, body: str) -> tuple[int, float, float, int]:
    start = time.perf_counter()
    conn.request("POST", job.path, body=body, headers=job.headers)
    response = conn.getresponse()
    response.read()
    client_ms = (time.perf_counter() - start) * 1000
    timing = loadgen._DUR.search(response.getheader("Server-Timing") or "")
    queries = int(response.getheader("X-Query-Count") or -1)
    if response.getheader("Connection", "").lower() == "close":
        conn.close()
    return response.status, float(timing.group(1)) if timing else -1.0, client_ms, queries


def run(ctx: Context) -> ScenarioResult:
    from incidents.models import Approval, Publication
    from incidents.services import statement_url

    result = ScenarioResult(NAME)
    count = 40 if ctx.config.quick else 200
    heading(f"statements: approve and publish, {count} POSTs each")
    started = time.monotonic()
    incident, people = _cast()
    waiting = _prepare(incident, people, count + WARMUP, approved=False)
    ready = _prepare(incident, people, count + WARMUP, approved=True)
    settle_database()
    print(
        f"  prepared {2 * (count + WARMUP)} statements through the services in {time.monotonic() - started:.1f} s"
    )

    def approve_form(s: Statement) -> tuple[str, dict[str, Any]]:
        assert s.current_version is not None
        form = {"version": 1, "sha256": s.current_version.sha256, "step": 1, "where": "page"}
        return statement_url(s, incident) + "approve/", form

    def publish_form(s: Statement) -> tuple[str, dict[str, Any]]:
        return statement_url(s, incident) + "publish/", {
            "version": 1,
            "channel": "x",
            "link": "https://x.com/n/1",
        }

    legal, publisher = _headers(people["legal"]), _headers(people["publisher"])
    bare_form = [(BARE, {"version": 1})] * count
    _post_series(ctx, "warm-up", [approve_form(s) for s in waiting[:WARMUP]], legal)
    _post_series(ctx, "warm-up", [publish_form(s) for s in ready[:WARMUP]], publisher)
    _post_series(ctx, "warm-up", bare_form[:WARMUP], legal)
    before = _post_series(ctx, "bare view (POST, before)", bare_form, legal)
    approve = _post_series(ctx, "approve (step 1 of 3)", [approve_form(s) for s in waiting[WARMUP:]], legal)
    publish = _post_series(ctx, "publish", [publish_form(s) for s in ready[WARMUP:]], publisher)
    after = _post_series(ctx, "bare view (POST, after)", bare_form, legal)
    baseline = (before.req_per_s + after.req_per_s) / 2
    rows = [
        Measurement("bare view (POST, before)", f"{count} POSTs", before),
        Measurement("approve (step 1 of 3)", f"{count} POSTs", approve, baseline_req_per_s=baseline),
        Measurement("publish", f"{count} POSTs", publish, baseline_req_per_s=baseline),
        Measurement("bare view (POST, after)", f"{count} POSTs", after),
    ]
    result.measurements.extend(rows)
    headers, body, right = measurement_rows(rows)
    print_table(headers, body, right=right)

    approvals = Approval.objects.filter(version__statement__in=waiting, approver=people["legal"]).count()
    publications = Publication.objects.filter(statement__in=ready).count()
    for stats, name in ((approve, "approve"), (publish, "publish")):
        measurable = stats.requests > 0 and stats.server_p50 == stats.server_p50  # not NaN
        result.checks.append(
            Check(
                f"statements: {name} server time p50",
                f"≤ {TARGET_MS:.0f} ms",
                f"{stats.server_p50:.1f} ms (p99 {stats.server_p99:.1f} ms), {stats.queries} queries",
                stats.server_p50 <= TARGET_MS if measurable else None,
            )
        )
        result.checks.append(
            Check(
                f"statements: {name} queries the same for every request",
                "constant",
                stats.queries,
                stats.queries_min == stats.queries_max if measurable else None,
            )
        )
    bad = sum(s.errors + sum(n for code, n in s.statuses.items() if code != 200) for s in (approve, publish))
    result.checks.append(
        Check(
            "statements: every POST 200 and took effect",
            "0 bad",
            f"{bad} bad; {approvals} of {count + WARMUP} approvals, {publications} of {count + WARMUP} publications",
            bad == 0 and approvals == publications == count + WARMUP,
        )
    )
    result.notes.append(
        f"statements: approve = step 1 (Legal) of Legal → Communications lead → Executive, which completes the "
        f"step, opens the next and notifies its approver; publish re-hashes the version and checks all three "
        f"steps. Bare POST p50 {before.server_p50:.2f} / {after.server_p50:.2f} ms (before/after)."
    )
    result.data["statements"] = {"count": count, "baseline_req_per_s": baseline}
    return result
