"""Response metrics across past incidents, over time and by scenario, drawn as server-rendered SVG.

Drills are excluded from every figure (an exercise's timings would flatter or distort the real record).
Only incidents the viewer may see are counted, so a restricted incident never shows up in a median either.
One query fetches one row per incident; the grouping and medians happen in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import Any

from django.db.models import Count, IntegerField, Min, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from incidents.models import Deadline, Publication, Scenario, User
from incidents.permissions import visible_incidents

MONTHS = 12


@dataclass(frozen=True)
class Row:
    scenario: str
    declared_at: datetime
    to_declare: float  # minutes
    to_statement: float | None  # minutes
    to_resolve: float | None  # hours
    met: int
    missed: int


def _rows(user: User) -> list[Row]:
    first_pub = (
        Publication.objects.filter(statement__incident=OuterRef("pk"))
        .values("statement__incident")
        .annotate(first=Min("published_at"))
        .values("first")
    )
    deadline_counts = (
        Deadline.objects.filter(incident=OuterRef("pk"))
        .values("incident")
        .annotate(
            # Cancelled deadlines count for nothing, as in the incident's own metrics.
            met=Count("pk", filter=Q(state="done", missed_at__isnull=True)),
            missed=Count("pk", filter=Q(missed_at__isnull=False) & ~Q(state="cancelled")),
        )
    )
    qs = (
        visible_incidents(user)
        .archived()
        .filter(is_drill=False)
        .annotate(
            first_pub=Subquery(first_pub),
            met=Coalesce(Subquery(deadline_counts.values("met"), output_field=IntegerField()), 0),
            missed=Coalesce(Subquery(deadline_counts.values("missed"), output_field=IntegerField()), 0),
        )
        .values_list("scenario", "detected_at", "declared_at", "resolved_at", "first_pub", "met", "missed")
    )
    rows = []
    for scenario, detected, declared, resolved, first, met, missed in qs:
        rows.append(
            Row(
                scenario=scenario,
                declared_at=declared,
                to_declare=(declared - detected).total_seconds() / 60,
                to_statement=(first - declared).total_seconds() / 60 if first else None,
                to_resolve=(resolved - declared).total_seconds() / 3600 if resolved else None,
                met=met,
                missed=missed,
            )
        )
    return rows


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(float(median(present)), 1) if present else None


@dataclass(frozen=True)
class Group:
    label: str
    count: int
    to_declare: float | None
    to_statement: float | None
    to_resolve: float | None
    met_rate: float | None  # percent of decided deadlines that were met


def _group(label: str, rows: list[Row]) -> Group:
    met = sum(r.met for r in rows)
    missed = sum(r.missed for r in rows)
    return Group(
        label=label,
        count=len(rows),
        to_declare=_median([r.to_declare for r in rows]),
        to_statement=_median([r.to_statement for r in rows]),
        to_resolve=_median([r.to_resolve for r in rows]),
        met_rate=round(100 * met / (met + missed), 1) if met + missed else None,
    )


@dataclass(frozen=True)
class Chart:
    title: str
    desc: str
    svg: SafeString


def bar_chart(
    *, chart_id: str, title: str, desc: str, unit: str, data: list[tuple[str, float | None]]
) -> Chart:
    """A horizontal bar chart as inline SVG (no script, no style attributes: CSP-safe), with a title and a
    description for screen readers; the page shows the same numbers as a table next to it."""
    row_h, label_w, chart_w, pad = 30, 230, 300, 6
    height = max(1, len(data)) * row_h + pad * 2
    top = max([v for _label, v in data if v is not None] or [1.0]) or 1.0
    parts = [
        f'<svg class="chart" viewBox="0 0 {label_w + chart_w + 90} {height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(desc)}</desc>',
    ]
    no_data = escape(_("no data"))
    for n, (label, value) in enumerate(data):
        y = pad + n * row_h
        parts.append(
            f'<text class="chart-label" x="{label_w - 6}" y="{y + row_h / 2 + 4}" text-anchor="end">{escape(label)}</text>'
        )
        if value is None:
            parts.append(
                f'<text class="chart-none" x="{label_w + 4}" y="{y + row_h / 2 + 4}">{no_data}</text>'
            )
            continue
        width = max(2.0, chart_w * value / top)
        parts.append(
            f'<rect class="chart-bar" x="{label_w}" y="{y + 4}" width="{width:.1f}" height="{row_h - 8}" rx="3"/>'
            f'<text class="chart-value" x="{label_w + width + 6:.1f}" y="{y + row_h / 2 + 4}">{value:g} {escape(unit)}</text>'
        )
    parts.append("</svg>")
    # Every value interpolated above is escaped or numeric.
    return Chart(title=title, desc=desc, svg=mark_safe("".join(parts)))


def trends_context(user: User) -> dict[str, Any]:
    rows = _rows(user)
    tz = timezone.get_current_timezone()
    by_month: dict[str, list[Row]] = {}
    for r in sorted(rows, key=lambda r: r.declared_at):
        by_month.setdefault(r.declared_at.astimezone(tz).strftime("%Y-%m"), []).append(r)
    months = [_group(_month_label(k), v) for k, v in list(by_month.items())[-MONTHS:]]
    by_scenario: dict[str, list[Row]] = {}
    for r in rows:
        by_scenario.setdefault(r.scenario, []).append(r)
    scenarios = [
        _group(str(label), by_scenario[value]) for value, label in Scenario.choices if value in by_scenario
    ]
    charts = []
    if rows:
        charts = [
            bar_chart(
                chart_id="month-statement",
                title=_("Median time from declaration to the first public statement, by month"),
                desc=_("Shorter bars are better. Months without a published statement show no data."),
                unit=_("min"),
                data=[(g.label, g.to_statement) for g in months],
            ),
            bar_chart(
                chart_id="month-declare",
                title=_("Median time from detection to declaration, by month"),
                desc=_("How long a problem was known before the war room was opened."),
                unit=_("min"),
                data=[(g.label, g.to_declare) for g in months],
            ),
            bar_chart(
                chart_id="month-met",
                title=_("Share of deadlines met, by month"),
                desc=_("Deadlines done on time as a percentage of those done or missed."),
                unit="%",
                data=[(g.label, g.met_rate) for g in months],
            ),
            bar_chart(
                chart_id="scenario-statement",
                title=_("Median time to the first public statement, by scenario"),
                desc=_("Which kinds of crisis take longest to speak about."),
                unit=_("min"),
                data=[(g.label, g.to_statement) for g in scenarios],
            ),
        ]
    return {
        "incident_count": len(rows),
        "months": months,
        "scenarios": scenarios,
        "charts": charts,
        "drills_excluded": visible_incidents(user).archived().filter(is_drill=True).count(),
    }


def _month_label(key: str) -> str:
    year, month = key.split("-")
    return f"{('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec')[int(month) - 1]} {year}"
