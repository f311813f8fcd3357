"""Scenario `timeline`: reading a long incident timeline.

One incident grows from 10 to 10,000 entries (written through the timeline service, as people would). At
each size: the room page, the first page of the timeline fragment, and the deepest "load older" page
(keyset on seq, so it should cost what the first page costs), each against the bare view measured in the
same run. Targets (issue 4): first page p50 ≤ 5 ms server time at 10,000 entries; deepest page ≤ 1.2 times the
first; queries per page constant from 10 to 10,000 entries.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from incidents.models import Incident, User

NAME = "timeline"
DESCRIPTION = "timeline reading: room, first page and deepest 'load older' page at 10 and 10,000 entries"
TIERS: list[tuple[str, int]] = [("10", 10), ("10,000", 10_000)]
BARE = "/bench/bare/"
FIRST_PAGE_TARGET_MS = 5.0
DEEP_RATIO_TARGET = 1.2
KINDS = ["note", "note", "note", "decision", "action", "external", "evidence"]


def _grow(incident: Incident, author: User, total: int) -> None:
    from django.db import transaction

    from incidents import services
    from incidents.models import Incident as IncidentModel

    have = IncidentModel.objects.get(pk=incident.pk).timeline_seq
    with transaction.atomic():
        for n in range(have, total):
            services.timeline_append(
                incident=incident,
                kind=KINDS[n % len(KINDS)],
                author=author,
                body=f"Update {n}: mentions on X up {n % 40}% in the last 15 minutes; support queue steady.",
            )


def run(ctx: Context) -> ScenarioResult:
    from incidents import services
    from incidents.models import OrgRole, User

    result = ScenarioResult(NAME)
    reader = User.objects.create_user(
        "reader@bench.example",
        "bench-password-1234",
        display_name="Rita Reader",
        org_role=OrgRole.CRISIS_MANAGER,
        time_zone="Europe/Warsaw",
    )
    incident = services.incident_declare(
        actor=reader, title="Timeline reading benchmark", scenario="outage", severity="sev2"
    )
    auth = session_cookie(reader)
    fragment = {**auth, "HX-Request": "true"}
    by_tier: dict[str, dict[str, Measurement]] = {}
    for label, total in TIERS:
        heading(f"timeline @ {label} entries")
        started = time.monotonic()
        _grow(incident, reader, total)
        settle_database()
        print(
            f"  grown to {total:,} entries through the timeline service in {time.monotonic() - started:.1f} s"
        )
        base = f"/incidents/{incident.code}"
        paths = [
            ("room", f"{base}/", auth),
            ("first page", f"{base}/timeline/", fragment),
            # The oldest 50 entries: a keyset page that starts right at the bottom of the timeline.
            ("deepest page", f"{base}/timeline/?before=51", fragment),
        ]
        before = run_load(ctx.server, BARE, label="bare view", config=ctx.config, headers=auth)
        measured = [
            (name, run_load(ctx.server, path, label=name, config=ctx.config, headers=headers))
            for name, path, headers in paths
        ]
        after = run_load(ctx.server, BARE, label="bare view", config=ctx.config, headers=auth)
        baseline = (before.req_per_s + after.req_per_s) / 2
        rows = [Measurement("bare view (before)", label, before)]
        by_tier[label] = {}
        for name, stats in measured:
            m = Measurement(name, label, stats, baseline_req_per_s=baseline)
            by_tier[label][name] = m
            rows.append(m)
        rows.append(Measurement("bare view (after)", label, after))
        result.measurements.extend(rows)
        headers, body, right = measurement_rows(rows)
        print_table(headers, body, right=right)

    big = by_tier[TIERS[-1][0]]
    first, deep = big["first page"].stats, big["deepest page"].stats
    result.checks.append(
        Check(
            f"timeline first page p50 @ {TIERS[-1][0]} entries",
            f"≤ {FIRST_PAGE_TARGET_MS:g} ms",
            f"{first.server_p50:.2f} ms",
            first.server_p50 <= FIRST_PAGE_TARGET_MS,
        )
    )
    ratio = deep.server_p50 / first.server_p50 if first.server_p50 else None
    result.checks.append(
        Check(
            "deepest 'load older' page ÷ first page (p50)",
            f"≤ {DEEP_RATIO_TARGET:g}",
            f"{ratio:.2f}" if ratio is not None else "—",
            ratio is not None and ratio <= DEEP_RATIO_TARGET,
        )
    )
    for name in ("room", "first page", "deepest page"):
        counts = [by_tier[label][name].stats for label, _ in TIERS]
        constant = all(s.queries_min == s.queries_max == counts[0].queries_min for s in counts)
        result.checks.append(
            Check(
                f"{name}: queries constant {TIERS[0][0]} → {TIERS[-1][0]} entries",
                "equal",
                " → ".join(s.queries for s in counts),
                constant,
            )
        )
    return result
