"""Mention volume and sentiment over time, drawn as SVG on the server from the rollups (never the mentions).

One query reads the buckets of the chosen watches in the range (5-minute rows, summed per hour for longer
ranges); a second reads the markers (published statements and status changes). The SVG uses only
attributes — no inline style, no script — so it passes the strict CSP; colours come from listening.css.
Each bar carries a <title> for pointers and the same numbers are in a table for screen readers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape as _escape  # django.utils.html.escape's own escaping, without its SafeString per call

from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from incidents.models import IncidentChange, Publication, Status

WIDTH, HEIGHT = 720, 180
TOP, BOTTOM, LEFT, RIGHT = 14, 22, 34, 6
RANGES = {"6h": timedelta(hours=6), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
STACK = ("negative", "neutral", "positive", "unscored")

_SERIES_SQL = """
SELECT date_bin(%(step)s, bucket, TIMESTAMPTZ '2000-01-01') AS b, sum(total), sum(negative), sum(neutral),
    sum(positive), sum(unscored + pending), sum(by_source), sum(by_model), sum(by_person), sum(pending)
FROM listening_mentionrollup
WHERE watch_id = ANY(%(watches)s) AND bucket >= %(start)s AND bucket < %(end)s
GROUP BY b ORDER BY b
"""


@dataclass(frozen=True)
class Point:
    start: datetime
    total: int
    negative: int
    neutral: int
    positive: int
    unscored: int


@dataclass
class Totals:
    total: int = 0
    negative: int = 0
    neutral: int = 0
    positive: int = 0
    unscored: int = 0
    by_source: int = 0
    by_model: int = 0
    by_person: int = 0
    pending: int = 0

    @property
    def scored(self) -> int:
        return self.negative + self.neutral + self.positive

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.scored if self.scored else None

    def share(self, part: int) -> int:
        return round(100 * part / self.total) if self.total else 0


@dataclass(frozen=True)
class Segment:
    kind: str
    y: float
    height: float
    count: int


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    point: Point
    segments: tuple[Segment, ...]
    label: str


@dataclass(frozen=True)
class Marker:
    at: datetime
    x: float
    kind: str  # "statement" or "status"
    label: str
    url: str = ""

    @property
    def when(self) -> str:
        local = timezone.localtime(self.at, timezone.get_current_timezone())
        return f"{local:%d %b %H:%M} {local.tzname() or ''}"


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


@dataclass
class Chart:
    start: datetime
    end: datetime
    step: timedelta
    bars: list[Bar] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    totals: Totals = field(default_factory=Totals)
    peak: int = 0
    width: int = WIDTH
    height: int = HEIGHT
    plot_top: int = TOP
    plot_bottom: int = HEIGHT - BOTTOM
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT

    @property
    def empty(self) -> bool:
        return self.totals.total == 0

    @property
    def step_label(self) -> str:
        return _("hourly") if self.step >= timedelta(hours=1) else _("5-minute")

    # Drawn in Python, not in template loops: a week of hourly bars is ~170 groups of up to four rects, and
    # Django's template engine spent ~1 ms a bar on them (bench/listening.py). Every label is escaped.
    def svg_body(self) -> SafeString:
        parts: list[str] = []
        left, right, top, bottom = self.plot_left, self.plot_right, self.plot_top, self.plot_bottom
        for t in self.y_ticks:
            parts.append(
                f'<line class="ls-grid" x1="{left}" x2="{right}" y1="{t.pos:.2f}" y2="{t.pos:.2f}"></line>'
                f'<text class="ls-axis" x="{left}" dx="-4" y="{t.pos:.2f}" dy="3" text-anchor="end">{escape(t.label)}</text>'
            )
        for t in self.x_ticks:
            parts.append(
                f'<text class="ls-axis" x="{t.pos:.2f}" y="{self.height}" dy="-6" text-anchor="middle">{escape(t.label)}</text>'
            )
        for bar in self.bars:
            x, w = f"{bar.x:.2f}", f"{bar.width:.2f}"
            rects = "".join(
                f'<rect class="ls-{s.kind}" x="{x}" y="{s.y:.2f}" width="{w}" height="{s.height:.2f}"></rect>'
                for s in bar.segments
            )
            parts.append(f'<g class="ls-bar"><title>{_escape(bar.label)}</title>{rects}</g>')
        for m in self.markers:
            parts.append(
                f'<g class="ls-marker ls-marker-{m.kind}"><title>{escape(m.label)} — {escape(m.when)}</title>'
                f'<line x1="{m.x:.2f}" x2="{m.x:.2f}" y1="{top}" y2="{bottom}"></line>'
                f'<circle cx="{m.x:.2f}" cy="{top}" r="4"></circle></g>'
            )
        return mark_safe("".join(parts))

    def table_rows(self) -> SafeString:
        zone = timezone.get_current_timezone()
        return mark_safe(
            "".join(
                f"<tr><td>{b.point.start.astimezone(zone):%d %b %H:%M}</td><td>{b.point.total}</td>"
                f"<td>{b.point.negative}</td><td>{b.point.neutral}</td><td>{b.point.positive}</td>"
                f"<td>{b.point.unscored}</td></tr>"
                for b in self.bars
            )
        )


def step_for(span: timedelta) -> timedelta:
    return timedelta(minutes=5) if span <= timedelta(hours=12) else timedelta(hours=1)


def read_series(
    watch_ids: Sequence[int], start: datetime, end: datetime, step: timedelta
) -> tuple[list[Point], Totals]:
    totals = Totals()
    points: list[Point] = []
    if not watch_ids:
        return points, totals
    with connection.cursor() as cursor:
        # psycopg adapts a timedelta to an interval (the stubs do not list it).
        params = {"step": step, "watches": list(watch_ids), "start": start, "end": end}
        cursor.execute(_SERIES_SQL, params)  # type: ignore[arg-type]
        for b, total, neg, neu, pos, uns, by_src, by_model, by_person, pending in cursor.fetchall():
            points.append(Point(b, int(total), int(neg), int(neu), int(pos), int(uns)))
            totals.total += int(total)
            totals.negative += int(neg)
            totals.neutral += int(neu)
            totals.positive += int(pos)
            totals.unscored += int(uns)
            totals.by_source += int(by_src)
            totals.by_model += int(by_model)
            totals.by_person += int(by_person)
            totals.pending += int(pending)
    return points, totals


def _nice_max(peak: int) -> int:
    for nice in (
        5,
        10,
        20,
        25,
        50,
        100,
        200,
        250,
        500,
        1000,
        2000,
        2500,
        5000,
        10_000,
        20_000,
        50_000,
        100_000,
    ):
        if peak <= nice:
            return nice
    return ((peak // 100_000) + 1) * 100_000


def build(
    watch_ids: Sequence[int],
    *,
    start: datetime,
    end: datetime,
    step: timedelta | None = None,
    incident_ids: Sequence[int] = (),
) -> Chart:
    """The chart of these watches from `start` to `end` (two queries), with the incidents' markers."""
    step = step or step_for(end - start)
    origin = datetime(2000, 1, 1, tzinfo=start.tzinfo)
    start = start - (start - origin) % step  # whole steps, so bars line up with the rollup buckets
    points, totals = read_series(watch_ids, start, end, step)
    chart = Chart(start=start, end=end, step=step, totals=totals)
    slots = max(math.ceil((end - start) / step), 1)  # the current, partial step has its slot too
    plot_w = chart.plot_right - chart.plot_left
    plot_h = chart.plot_bottom - chart.plot_top
    chart.peak = max((p.total for p in points), default=0)
    top = _nice_max(max(chart.peak, 1))
    slot_w = plot_w / slots
    bar_w = max(slot_w * 0.8, 0.8)
    bar_w_rounded = round(bar_w, 2)
    zone = timezone.get_current_timezone()
    bar_text = _(  # translated once, not once a bar
        "%(when)s: %(total)d mentions — %(neg)d negative, %(neu)d neutral, %(pos)d positive, %(uns)d unscored"
    )
    bottom = float(chart.plot_bottom)
    for p in points:
        index = int((p.start - start) / step)
        x = chart.plot_left + index * slot_w + (slot_w - bar_w) / 2
        y = bottom
        segments = []
        for kind, count in (
            ("negative", p.negative),
            ("neutral", p.neutral),
            ("positive", p.positive),
            ("unscored", p.unscored),
        ):  # STACK's order
            if not count:
                continue
            h = plot_h * count / top
            y -= h
            segments.append(Segment(kind, round(y, 2), round(h, 2), count))
        label = bar_text % {
            "when": p.start.astimezone(zone).strftime("%d %b %H:%M"),
            "total": p.total,
            "neg": p.negative,
            "neu": p.neutral,
            "pos": p.positive,
            "uns": p.unscored,
        }
        chart.bars.append(Bar(round(x, 2), bar_w_rounded, p, tuple(segments), label))
    chart.y_ticks = [Tick(chart.plot_bottom - plot_h * f, f"{round(top * f):,}") for f in (0, 0.5, 1)]
    tick_every = max(slots // 6, 1)
    for i in range(0, slots, tick_every):
        at = timezone.localtime(start + step * i, zone)
        fmt = "%H:%M" if (end - start) <= timedelta(hours=26) else "%d %b"
        chart.x_ticks.append(Tick(round(chart.plot_left + i * slot_w, 2), at.strftime(fmt)))
    if incident_ids:
        chart.markers = markers(
            incident_ids, start, end, lambda at: chart.plot_left + (at - start) / step * slot_w
        )
    return chart


def markers(incident_ids: Sequence[int], start: datetime, end: datetime, position: object) -> list[Marker]:
    """Every published statement and status change of these incidents in the range (one query each)."""
    place = position  # a callable: datetime -> x
    found: list[Marker] = []
    publications = (
        Publication.objects.filter(
            statement__incident_id__in=incident_ids, published_at__gte=start, published_at__lt=end
        )
        .select_related("statement", "statement__incident")
        .order_by("published_at")[:40]
    )
    for p in publications:
        found.append(
            Marker(
                at=p.published_at,
                x=round(place(p.published_at), 2),  # type: ignore[operator]
                kind="statement",
                label=_("Published: %(title)s (%(channel)s)")
                % {"title": p.statement.title, "channel": p.get_channel_display()},
                url=reverse("incidents:statement", args=[p.statement.incident.code, p.statement.code]),
            )
        )
    changes = IncidentChange.objects.filter(
        incident_id__in=incident_ids,
        field=IncidentChange.Field.STATUS,
        changed_at__gte=start,
        changed_at__lt=end,
    ).order_by("changed_at")[:40]
    for c in changes:
        found.append(
            Marker(
                at=c.changed_at,
                x=round(place(c.changed_at), 2),  # type: ignore[operator]
                kind="status",
                label=_("Status: %(old)s → %(new)s")
                % {
                    "old": Status(c.old_value).label if c.old_value in Status.values else c.old_value,
                    "new": Status(c.new_value).label,
                },
            )
        )
    found.sort(key=lambda m: m.at)
    return found


# --- before / after each statement ------------------------------------------------------------------------------

_AROUND_SQL = """
SELECT w.k, coalesce(sum(r.total), 0), coalesce(sum(r.negative), 0),
    coalesce(sum(r.negative + r.neutral + r.positive), 0)
FROM unnest(%s::int[], %s::timestamptz[], %s::timestamptz[]) AS w(k, s, e)
LEFT JOIN listening_mentionrollup r ON r.watch_id = ANY(%s) AND r.bucket >= w.s AND r.bucket < w.e
GROUP BY w.k ORDER BY w.k
"""


@dataclass(frozen=True)
class Window:
    total: int
    negative: int
    scored: int

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.scored if self.scored else None


@dataclass(frozen=True)
class BeforeAfter:
    title: str
    channel: str
    at: datetime
    before: Window
    after: Window
    after_complete: bool  # the hour after has passed

    @property
    def volume_change(self) -> float | None:
        return (self.after.total - self.before.total) / self.before.total if self.before.total else None


def before_after(
    watch_ids: Sequence[int], incident_ids: Sequence[int], *, hour: timedelta = timedelta(hours=1)
) -> list[BeforeAfter]:
    """Volume and negative share in the hour before and the hour after each publication (one query for all)."""
    pubs = list(
        Publication.objects.filter(statement__incident_id__in=incident_ids)
        .select_related("statement")
        .order_by("published_at")[:40]
    )
    if not pubs or not watch_ids:
        return []
    keys, starts, ends = [], [], []
    for i, p in enumerate(pubs):
        # Buckets are 5 minutes wide: the windows are the whole buckets before and from the publication's one.
        at = p.published_at - timedelta(seconds=p.published_at.timestamp() % 300)
        keys += [2 * i, 2 * i + 1]
        starts += [at - hour, at]
        ends += [at, at + hour]
    with connection.cursor() as cursor:
        cursor.execute(_AROUND_SQL, [keys, starts, ends, list(watch_ids)])
        sums = {k: Window(int(t), int(n), int(s)) for k, t, n, s in cursor.fetchall()}
    now = timezone.now()
    return [
        BeforeAfter(
            title=p.statement.title,
            channel=p.get_channel_display(),
            at=p.published_at,
            before=sums[2 * i],
            after=sums[2 * i + 1],
            after_complete=p.published_at + hour <= now,
        )
        for i, p in enumerate(pubs)
    ]
