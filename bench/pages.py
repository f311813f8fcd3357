"""Scenario `pages`: the dashboard, an incident room and past incidents against the bare view.

Measured at two dataset sizes in the same database, grown from 10 to 1,000 incidents, so the query count
of each page can be compared (it must not grow with the data) and the throughput of each page is divided
by the throughput of the bare view measured right before it (same server, same session, same run).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from bench.common import (
    Check,
    Context,
    IncidentGrower,
    LoadStats,
    Measurement,
    ScenarioResult,
    Team,
    capture_sql,
    create_team,
    describe_incidents,
    heading,
    measurement_rows,
    print_table,
    run_load,
    session_cookie,
    settle_database,
)

if TYPE_CHECKING:
    from incidents.models import Incident

NAME = "pages"
DESCRIPTION = "dashboard, incident room and past incidents vs the bare view, at 10, 1,000 and 2,000 incidents"

QUERY_TARGET = 8
RATIO_TARGET = 0.15
# (label, total incidents, of which open); the rest are resolved or closed.
TIERS: list[tuple[str, int, int]] = [("10", 10, 8), ("1,000", 1000, 50), ("2,000", 2000, 60)]
# At the largest tier the viewer is on the team of this many incidents (issue 3: "a user on 200 incidents
# of 2,000"): their dashboard then also lists their open ones with their roles.
TEAM_INCIDENTS_AT_LARGEST = 200
BARE = "/bench/bare/"
PAST_PAGE_SIZE = 50  # incidents.views.PAST_PAGE_SIZE


def _room_incident(team: Team) -> Incident:
    """The incident whose room is measured: declared by one crisis manager, worked on by another."""
    from incidents import services
    from incidents.models import IncidentRole

    declarer = team.declarers[1]
    incident = services.incident_declare(
        actor=declarer,
        title="Checkout charged customers twice",
        scenario="outage",
        severity="sev2",
        summary="Customers post screenshots of double charges; a video has 200k views.",
        affected_platforms=["x", "tiktok", "reviews"],
    )
    incident = services.incident_change_status(
        incident=incident, actor=declarer, new_status="assessing", note="Support confirms 40 tickets."
    )
    # The viewer works on it as deputy (changing status and severity needs a role that allows it).
    services.team_add_member(
        incident=incident, actor=declarer, user=team.viewer, role=IncidentRole.objects.get(slug="deputy")
    )
    incident = services.incident_change_severity(
        incident=incident, actor=team.viewer, new_severity="sev1", note="Trending on X."
    )
    return services.incident_change_status(
        incident=incident, actor=team.viewer, new_status="responding", note="Holding statement approved."
    )


def _join_teams(team: Team, count: int) -> int:
    """Put the viewer on `count` teams (the commanders add them, through the team service)."""
    import random

    from django.db import transaction

    from incidents import services
    from incidents.models import Incident, IncidentRole, RoleAssignment

    roles = list(IncidentRole.objects.filter(is_command=False))
    held = set(
        RoleAssignment.objects.current().filter(user=team.viewer).values_list("incident_id", flat=True)
    )
    candidates = list(
        Incident.objects.exclude(pk__in=held)
        .exclude(is_restricted=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    rng = random.Random(200)
    chosen = rng.sample(candidates, max(0, min(count - len(held), len(candidates))))
    with transaction.atomic():
        for incident in Incident.objects.filter(pk__in=chosen).select_related("commander"):
            services.team_add_member(
                incident=incident,
                actor=incident.commander or team.viewer,
                user=team.viewer,
                role=rng.choice(roles),
            )
    return len(held) + len(chosen)


def _mix_line(label: str, mix: dict[str, Any]) -> str:
    statuses = ", ".join(f"{status} {n}" for status, n in mix["by_status"].items())
    return (
        f"@{label}: {mix['total']:,} incidents ({statuses}); {mix['drills']} drill(s), "
        f"{mix['restricted']} restricted. The viewer lists {_rows('dashboard', mix)} on the dashboard "
        f"(open, visible to them) and {_rows('past incidents', mix)} on the first past-incidents page "
        f"(of {mix['visible_archived']:,} visible)."
    )


def _rows(page: str, mix: dict[str, Any]) -> int:
    """Incidents the page lists for the viewer (the room lists none)."""
    if page == "dashboard":
        return int(mix["visible_open"])
    if page == "past incidents":
        return min(PAST_PAGE_SIZE, int(mix["visible_archived"]))
    return 0


def run(ctx: Context) -> ScenarioResult:
    from incidents.models import IncidentChange

    result = ScenarioResult(NAME)
    team = create_team()
    grower = IncidentGrower(team)
    room = _room_incident(team)
    auth = session_cookie(team.viewer)
    pages = [
        ("dashboard", "/"),
        ("incident room", f"/incidents/{room.code}/"),
        ("past incidents", "/incidents/past/"),
    ]
    room_changes = IncidentChange.objects.filter(incident=room).count()
    result.notes.append(
        f"Room: {room.reference} ({room.get_status_display()}, {room.get_severity_display()}), "
        f"{room_changes} changes by 2 people; viewer {team.viewer.display_name} ({team.viewer.org_role}, "
        f"{team.viewer.time_zone})."
    )
    sql: dict[str, dict[str, list[str]]] = {}  # page -> tier -> statements of one request
    by_page: dict[str, dict[str, Measurement]] = {page: {} for page, _ in pages}
    result.data["tiers"] = {}
    bare_drift: dict[str, float] = {}

    for label, total, open_total in TIERS:
        mix = describe_incidents(team.viewer)
        heading(f"pages @ {label} incidents")
        grow_start = time.monotonic()
        added = grower.grow(
            open_incidents=max(0, open_total - mix["open"]),
            archived_incidents=max(0, total - open_total - mix["archived"]),
        )
        if total == TIERS[-1][1]:
            joined = _join_teams(team, TEAM_INCIDENTS_AT_LARGEST)
            result.notes.append(f"@{label}: the viewer holds a role in {joined} incidents.")
        settle_database()
        print(
            f"  added {len(added):,} incidents through the services in {time.monotonic() - grow_start:.1f} s"
        )
        mix = describe_incidents(team.viewer)
        print(f"  {_mix_line(label, mix)}")
        result.notes.append(_mix_line(label, mix))
        result.data["tiers"][label] = mix

        for page, path in pages:
            captured = capture_sql(path, auth)
            sql.setdefault(page, {})[label] = captured["queries"]
            if captured["status"] != 200:
                problem = (
                    f"{page}: in-process GET {path} answered {captured['status']} {captured['error'] or ''}"
                )
                print(f"  {problem}")
                result.notes.append(problem)

        print(
            f"  measuring the bare view, {len(pages)} pages, the bare view again: {ctx.config.seconds:g} s each …",
            flush=True,
        )
        before = run_load(ctx.server, BARE, label="bare view", config=ctx.config, headers=auth)
        measured = [
            (page, run_load(ctx.server, path, label=page, config=ctx.config, headers=auth))
            for page, path in pages
        ]
        after = run_load(ctx.server, BARE, label="bare view", config=ctx.config, headers=auth)
        # The baseline brackets the pages: the mean of the bare view just before and just after them.
        baseline = (before.req_per_s + after.req_per_s) / 2
        bare_drift[label] = abs(before.req_per_s - after.req_per_s) / baseline if baseline else 0.0
        tier_rows = [Measurement("bare view (before)", label, before)]
        for page, stats in measured:
            m = Measurement(page, label, stats, baseline_req_per_s=baseline)
            by_page[page][label] = m
            tier_rows.append(m)
        tier_rows.append(Measurement("bare view (after)", label, after))
        result.measurements.extend(tier_rows)
        headers, body, right = measurement_rows(tier_rows)
        print_table(headers, body, right=right)

    result.checks.extend(_checks(by_page))
    result.checks.append(_responses_check(result.measurements))
    result.notes.extend(_row_costs(by_page, result.data["tiers"]))
    result.notes.extend(_sql_findings(sql, by_page, show_all=ctx.config.show_sql))
    result.notes.extend(_load_notes(result.measurements))
    noisy = {label: drift for label, drift in bare_drift.items() if drift > 0.10}
    if noisy:
        shown = ", ".join(f"{drift:.0%} @{label}" for label, drift in noisy.items())
        result.notes.append(
            f"The bare view's req/s moved by {shown} between before and after the pages: the machine was "
            "busy with something else; treat the ratios as ±that much."
        )
    result.data["sql"] = sql
    return result


def _checks(by_page: dict[str, dict[str, Measurement]]) -> list[Check]:
    checks: list[Check] = []
    labels = [label for label, _, _ in TIERS]
    for page, tiers in by_page.items():
        stats = [tiers[label].stats for label in labels if label in tiers]
        if len(stats) != len(labels):
            checks.append(Check(f"{page}: measured at every size", "yes", "no", None))
            continue
        counts = " → ".join(s.queries for s in stats)
        measurable = all(s.queries_min >= 0 for s in stats)
        checks.append(
            Check(
                f"{page}: queries per request",
                f"≤ {QUERY_TARGET}",
                counts,
                all(s.queries_max <= QUERY_TARGET for s in stats) if measurable else None,
            )
        )
        constant = all(s.queries_min == s.queries_max == stats[0].queries_min for s in stats)
        checks.append(
            Check(
                f"{page}: queries constant {labels[0]} → {labels[-1]} incidents",
                "equal",
                counts,
                constant if measurable else None,
            )
        )
        ratios = [tiers[label].ratio for label in labels]
        shown = ", ".join(
            f"{r:.2f} @{label}" if r is not None else f"— @{label}"
            for r, label in zip(ratios, labels, strict=True)
        )
        checks.append(
            Check(
                f"{page}: req/s ÷ bare view req/s",
                f"≥ {RATIO_TARGET:.2f}",
                shown,
                None
                if any(r is None for r in ratios)
                else all(r >= RATIO_TARGET for r in ratios if r is not None),
            )
        )
    return checks


def _responses_check(measurements: list[Measurement]) -> Check:
    total = sum(m.stats.requests for m in measurements)
    bad = sum(
        m.stats.errors + sum(n for status, n in m.stats.statuses.items() if status != 200)
        for m in measurements
    )
    return Check("pages: every response 200, no connection errors", "0 bad", f"{bad} of {total:,}", bad == 0)


def _sql_findings(
    sql: dict[str, dict[str, list[str]]], by_page: dict[str, dict[str, Measurement]], *, show_all: bool
) -> list[str]:
    """Precise notes on pages whose queries grow with the data or repeat within one request."""
    from bench.common import normalise_sql

    notes: list[str] = []
    labels = [label for label, _, _ in TIERS]
    for page, tiers in sql.items():
        counted = {label: Counter(normalise_sql(q) for q in tiers.get(label, [])) for label in labels}
        first, last = counted[labels[0]], counted[labels[-1]]
        path = next(iter(by_page[page].values())).stats.path if by_page[page] else "?"
        grown = {
            q: (first.get(q, 0), last.get(q, 0))
            for q in first.keys() | last.keys()
            if first.get(q, 0) != last.get(q, 0)
        }
        repeated = {q: n for q, n in last.items() if n > 1}
        if grown:
            lines = [f"{page} ({path}): SQL that differs between {labels[0]} and {labels[-1]} incidents:"]
            lines += [
                f"    {a} → {b} x  {q}" for q, (a, b) in sorted(grown.items(), key=lambda kv: -kv[1][1])
            ]
            notes.append("\n".join(lines))
        if repeated:
            lines = [f"{page} ({path}): statements repeated within one request @{labels[-1]}:"]
            lines += [f"    {n} x  {q}" for q, n in sorted(repeated.items(), key=lambda kv: -kv[1])]
            notes.append("\n".join(lines))
        if show_all:
            for label in labels:
                lines = [
                    f"{page} ({path}) @{label}: {len(tiers.get(label, []))} queries (full SQL in the JSON)"
                ]
                lines += [f"    {normalise_sql(q)}" for q in tiers.get(label, [])]
                notes.append("\n".join(lines))
    return notes


def _row_costs(by_page: dict[str, dict[str, Measurement]], mixes: dict[str, dict[str, Any]]) -> list[str]:
    """Marginal server time per listed incident, from the two sizes: what a longer list costs."""
    notes: list[str] = []
    first, last = TIERS[0][0], TIERS[-1][0]
    for page, tiers in by_page.items():
        if first not in tiers or last not in tiers:
            continue
        rows_a, rows_b = _rows(page, mixes[first]), _rows(page, mixes[last])
        p50_a, p50_b = tiers[first].stats.server_p50, tiers[last].stats.server_p50
        if rows_b != rows_a:
            per_row = (p50_b - p50_a) / (rows_b - rows_a)
            notes.append(
                f"{page}: {rows_a} → {rows_b} listed incidents, server p50 {p50_a:.1f} → {p50_b:.1f} ms: "
                f"≈{per_row:.2f} ms per listed incident."
            )
        elif abs(p50_b - p50_a) > max(1.0, 0.25 * p50_a):
            notes.append(
                f"{page}: same content at both sizes, yet server p50 moved {p50_a:.1f} → {p50_b:.1f} ms."
            )
    return notes


def _load_notes(measurements: list[Measurement]) -> list[str]:
    notes: list[str] = []
    busiest = max((m.stats for m in measurements), key=lambda s: s.client_cpu, default=None)
    if busiest is not None and busiest.client_cpu > 0.9:
        notes.append(
            f"Load generator used {busiest.client_cpu:.0%} of its CPU on {busiest.label}: it may be the "
            "bottleneck there, so that throughput (and ratios against it) are lower bounds."
        )
    for m in measurements:
        s: LoadStats = m.stats
        if s.error_samples:
            notes.append(f"{s.label} @{m.variant}: errors, e.g. {s.error_samples[0]}")
    return notes
