"""Scenario `playbooks`: declaring from a playbook, the pages around it, and the drill inject sweep.

Declaring is a one-shot POST (each creates an incident), so the three declare figures are N POSTs sent back
to back over HTTP, exactly as the declare form's htmx POST sends them, against the same gunicorn worker;
the baseline is the bare view POSTed the same way in the same run (`÷ bare`). "Plain" is the declare form
without a playbook — what declaring cost before playbooks — so the playbook's extra cost (a team of four
added through the team services, seven task deadlines with their reminders, the record, a timeline entry;
for a drill also three inject rows) reads directly off the two rows.

The pages (declare with a playbook chosen, the playbook, the list) are GET throughput loops like `pages`,
against the bare GET view. The inject sweep runs in this process: K due injects posted to K drills'
timelines, as ms per inject, against `timeline_append` of the same entries (the sweep's floor).

Target: declaring from a playbook p50 ≤ 150 ms server time (a stressed person clicks once and lands in a
staffed room; the rest of the minute is theirs).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bench.common import (
    Check,
    Context,
    Measurement,
    ScenarioResult,
    heading,
    measurement_rows,
    print_table,
    run_load,
    session_cookie,
    settle_database,
)
from bench.statements import _headers, _post_series

if TYPE_CHECKING:
    from incidents.models import User
    from incidents.playbooks.models import Playbook

NAME = "playbooks"
DESCRIPTION = "declare from a playbook (htmx POST) vs plain declare; playbook pages; the inject sweep"
TARGET_MS = 150.0
BARE = "/bench/bare/"
WARMUP = 10


def _cast() -> tuple[User, Playbook]:
    from incidents.models import OrgRole, User
    from incidents.playbooks.models import Playbook
    from incidents.playbooks.services import RoleSpec, content_of, playbook_save_version

    manager = User.objects.create_user(
        "manager@playbooks.bench.example",
        "bench-password-1234",
        display_name="Maja Manager",
        org_role=OrgRole.CRISIS_MANAGER,
    )
    people = [
        User.objects.create_user(
            f"p{i}@playbooks.bench.example", "bench-password-1234", display_name=f"P {i}"
        )
        for i in range(5)
    ]
    playbook = Playbook.objects.get(name="Technical outage")  # seeded: 5 roles, 7 tasks, 3 templates
    content = content_of(playbook.latest())
    roles = tuple(
        RoleSpec(role=spec.role, person=people[i], backup=people[(i + 1) % 5])
        for i, spec in enumerate(content.roles[:4])
    )
    playbook_save_version(
        playbook=playbook,
        actor=manager,
        base_number=playbook.latest_number,
        content=content.__class__(**{**content.__dict__, "roles": roles}),
    )
    playbook.refresh_from_db()
    return manager, playbook


def _forms(playbook: Playbook, count: int) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    version = playbook.latest()
    team: dict[str, Any] = {"accept_team": "on"}
    for slot in version.roles.select_related("person", "backup"):
        team[f"person_{slot.pk}"] = slot.person.email if slot.person else ""
        team[f"backup_{slot.pk}"] = slot.backup.email if slot.backup else ""
    chosen = {"playbook": str(playbook.code), "playbook_version": str(version.number), **team}
    path = "/incidents/declare/"
    return {
        "plain": [
            (path, {"title": f"Plain {n}", "scenario": "outage", "severity": "sev2"}) for n in range(count)
        ],
        "playbook": [
            (path, {**chosen, "title": f"Outage: bench {n}", "severity": "sev2"}) for n in range(count)
        ],
        "drill": [
            (path, {**chosen, "title": f"Drill {n}", "severity": "sev2", "is_drill": "on"})
            for n in range(count)
        ],
    }


def _sweep(count: int, manager: User, playbook: Playbook) -> tuple[float, float]:
    """ms per inject: the sweep posting `count` due injects, and timeline_append of as many entries."""
    from django.utils import timezone

    from incidents.models import TimelineEntry
    from incidents.playbooks.declaring import declare_from_playbook
    from incidents.playbooks.models import DrillInject
    from incidents.playbooks.services import inject_sweep
    from incidents.services import timeline_append

    drills = [
        declare_from_playbook(
            actor=manager, version=playbook.latest(), title=f"Sweep drill {n}", severity="sev3", is_drill=True
        ).incident
        for n in range(max(1, count // 3))
    ]
    DrillInject.objects.filter(incident__in=drills).update(due_at=timezone.now() - timedelta(seconds=1))
    # Warm-up (template compilation, connection): one entry and one sweep of nothing, not measured.
    timeline_append(incident=drills[0], kind=TimelineEntry.Kind.EXTERNAL, author=None, body="warm-up")
    inject_sweep(now=timezone.now() - timedelta(days=1))
    due = DrillInject.objects.filter(incident__in=drills, posted_at__isnull=True).count()
    settle_database()
    start = time.perf_counter()
    posted = inject_sweep(limit=10_000)
    sweep_ms = (time.perf_counter() - start) * 1000 / max(posted, 1)
    assert posted == due, (posted, due)
    start = time.perf_counter()
    for n in range(posted):
        timeline_append(
            incident=drills[n % len(drills)], kind=TimelineEntry.Kind.EXTERNAL, author=None, body=f"floor {n}"
        )
    floor_ms = (time.perf_counter() - start) * 1000 / max(posted, 1)
    return sweep_ms, floor_ms


def run(ctx: Context) -> ScenarioResult:
    from incidents.models import Deadline, Incident

    result = ScenarioResult(NAME)
    count = 30 if ctx.config.quick else 120
    heading(f"playbooks: declare from a playbook ({count} POSTs each), pages, inject sweep")
    manager, playbook = _cast()
    forms = _forms(playbook, count + WARMUP)
    headers = _headers(manager) | {"HX-Target": "declare-area"}
    bare = [(BARE, {"x": "1"})] * count
    settle_database()
    for kind in ("plain", "playbook", "drill"):
        _post_series(ctx, "warm-up", forms[kind][:WARMUP], headers)
    _post_series(ctx, "warm-up", bare[:WARMUP], headers)
    before = _post_series(ctx, "bare view (POST, before)", bare, headers)
    plain = _post_series(ctx, "declare, no playbook", forms["plain"][WARMUP:], headers)
    from_playbook = _post_series(ctx, "declare from a playbook", forms["playbook"][WARMUP:], headers)
    drill = _post_series(ctx, "drill from a playbook", forms["drill"][WARMUP:], headers)
    after = _post_series(ctx, "bare view (POST, after)", bare, headers)
    baseline = (before.req_per_s + after.req_per_s) / 2

    cookie = session_cookie(manager)
    get_before = run_load(ctx.server, BARE, label="bare view (GET)", config=ctx.config, headers=cookie)
    pages = [
        run_load(ctx.server, path, label=label, config=ctx.config, headers=cookie)
        for label, path in (
            ("declare page, no playbook", "/incidents/declare/"),
            ("declare page, playbook chosen", f"/incidents/declare/?playbook={playbook.code}"),
            ("playbook page", f"/playbooks/{playbook.code}/"),
            ("playbook list", "/playbooks/"),
        )
    ]
    get_after = run_load(ctx.server, BARE, label="bare view (GET, after)", config=ctx.config, headers=cookie)
    get_baseline = (get_before.req_per_s + get_after.req_per_s) / 2

    rows = [
        Measurement("bare view (POST, before)", f"{count} POSTs", before),
        Measurement("declare, no playbook", f"{count} POSTs", plain, baseline_req_per_s=baseline),
        Measurement("declare from a playbook", f"{count} POSTs", from_playbook, baseline_req_per_s=baseline),
        Measurement("drill from a playbook", f"{count} POSTs", drill, baseline_req_per_s=baseline),
        Measurement("bare view (POST, after)", f"{count} POSTs", after),
        Measurement("bare view (GET)", "—", get_before),
        *(Measurement(p.label, "—", p, baseline_req_per_s=get_baseline) for p in pages),
        Measurement("bare view (GET, after)", "—", get_after),
    ]
    result.measurements.extend(rows)
    head, body, right = measurement_rows(rows)
    print_table(head, body, right=right)

    sweep_count = 30 if ctx.config.quick else 150
    sweep_ms, floor_ms = _sweep(sweep_count, manager, playbook)
    print(
        f"  inject sweep: {sweep_ms:.2f} ms per inject vs timeline_append {floor_ms:.2f} ms "
        f"(÷ floor {sweep_ms / floor_ms:.2f})"
    )

    measurable = from_playbook.requests > 0 and from_playbook.server_p50 == from_playbook.server_p50
    result.checks.append(
        Check(
            "playbooks: declare from a playbook server time p50",
            f"≤ {TARGET_MS:.0f} ms",
            f"{from_playbook.server_p50:.1f} ms (p99 {from_playbook.server_p99:.1f} ms; plain "
            f"{plain.server_p50:.1f} ms), {from_playbook.queries} queries",
            from_playbook.server_p50 <= TARGET_MS if measurable else None,
        )
    )
    made = Incident.objects.filter(title__startswith="Outage: bench").count()
    tasks = Deadline.objects.filter(
        incident__title__startswith="Outage: bench", key__startswith="playbook-task:"
    )
    per_incident = tasks.count() / made if made else 0
    bad = sum(
        s.errors + sum(n for code, n in s.statuses.items() if code != 200)
        for s in (plain, from_playbook, drill)
    )
    result.checks.append(
        Check(
            "playbooks: every declare POST 200 and staffed",
            "0 bad",
            f"{bad} bad; {made} incidents from the playbook, {per_incident:.1f} tasks each",
            bad == 0 and made == count + WARMUP and per_incident == playbook.latest().tasks.count(),
        )
    )
    result.notes.append(
        f"playbooks: inject sweep {sweep_ms:.2f} ms per inject ({sweep_count // 3} drills) vs "
        f"timeline_append alone {floor_ms:.2f} ms (÷ {sweep_ms / floor_ms:.2f}: claim with SKIP LOCKED, "
        "entry, mark posted)."
    )
    result.data["playbooks"] = {"count": count, "sweep_ms": sweep_ms, "floor_ms": floor_ms}
    return result
