"""Scenario `accounts`: what the second-factor gate costs the hot writes.

Timeline post and approve (step 1 of 3) as real htmx POSTs to gunicorn, with the gate on and off in
alternating blocks (on, off, off, on, …; three unmeasured requests after each switch); server time p50 per
condition. Off is `bench.middleware.SwitchableGate` passing a request marked `X-Bench-Gate: off` straight on,
so both conditions run in the same worker, against the same data, in the same minutes. Both conditions pay
the per-person write bucket (one Redis call) and django-axes' middleware: those are not switched.

Target (issue 16): timeline post and approve p50 with the gate within 10 % of the same request without it.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from bench import audit, statements
from bench.common import (
    Check,
    Context,
    Measurement,
    ScenarioResult,
    heading,
    measurement_rows,
    print_table,
    settle_database,
)

if TYPE_CHECKING:
    from incidents.models import Statement

NAME = "accounts"
DESCRIPTION = "timeline post / approve p50 with the second-factor gate on vs off"
RATIO_TARGET = 1.10
ORDER = (True, False, False, True, True, False, False, True)


def run(ctx: Context) -> ScenarioResult:
    from incidents.services import statement_url

    result = ScenarioResult(NAME)
    per_block = 10 if ctx.config.quick else 50
    heading(
        f"accounts: timeline post and approve, {per_block * len(ORDER) // 2} POSTs each with and without the gate"
    )
    incident, people = statements._cast("accounts.bench.example")
    waiting = statements._prepare(
        incident, people, len(ORDER) * (per_block + audit.SWITCH_WARMUP), approved=False
    )
    settle_database()
    post_path = f"/incidents/{incident.code}/timeline/new/"

    def post_form(n: int) -> tuple[str, dict[str, Any]]:
        body = f"Gate bench {n}: mentions steady, support queue at 14, no new press enquiries."
        return post_path, {"kind": "note", "body": body, "idempotency_key": uuid.uuid4().hex}

    def approve_form(s: Statement) -> tuple[str, dict[str, Any]]:
        assert s.current_version is not None
        form = {"version": 1, "sha256": s.current_version.sha256, "step": 1, "where": "page"}
        return statement_url(s, incident) + "approve/", form

    samples: dict[tuple[str, bool], list[tuple[int, float, float, int]]] = {}
    elapsed: dict[tuple[str, bool], float] = {}
    queue = iter(waiting)
    counter = 0
    for gate in ORDER:
        for kind, who in (("timeline post", "commander"), ("approve", "legal")):
            headers = statements._headers(people[who])
            if not gate:
                headers["X-Bench-Gate"] = "off"
            batch = []
            for _ in range(audit.SWITCH_WARMUP + per_block):
                counter += 1
                batch.append(post_form(counter) if kind == "timeline post" else approve_form(next(queue)))
            audit._send(ctx, batch[: audit.SWITCH_WARMUP], headers)
            t0 = time.perf_counter()
            got = audit._send(ctx, batch[audit.SWITCH_WARMUP :], headers)
            elapsed[(kind, gate)] = elapsed.get((kind, gate), 0.0) + time.perf_counter() - t0
            samples.setdefault((kind, gate), []).extend(got)

    rows = []
    for kind in ("timeline post", "approve"):
        path = post_path if kind == "timeline post" else "…/approve/"
        off = audit._stats(f"{kind} (gate off)", path, samples[(kind, False)], elapsed[(kind, False)])
        on = audit._stats(f"{kind} (gate on)", path, samples[(kind, True)], elapsed[(kind, True)])
        rows += [
            Measurement(f"{kind}, gate off", f"{off.requests} POSTs", off),
            Measurement(f"{kind}, gate on", f"{on.requests} POSTs", on),
        ]
        ratio = on.server_p50 / off.server_p50 if off.server_p50 else float("nan")
        bad = sum(n for stats in (on, off) for code, n in stats.statuses.items() if code != 200)
        result.checks.append(
            Check(
                f"accounts: {kind} p50, gate on ÷ off",
                f"≤ {RATIO_TARGET:.2f}",
                f"{ratio:.3f} ({on.server_p50:.2f} vs {off.server_p50:.2f} ms)",
                ratio <= RATIO_TARGET if ratio == ratio and bad == 0 else None,
            )
        )
    result.measurements.extend(rows)
    headers_, table, right = measurement_rows(rows)
    print_table(headers_, table, right=right)
    result.notes.append(
        "accounts: the gate reads the session only (no query); both columns pay the write bucket (one Redis "
        "round trip per post) and django-axes' middleware."
    )
    return result
