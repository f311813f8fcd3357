"""Small formatting helpers for the listening templates."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def reach(value: int | None) -> str:
    """12,400 → "12.4k"; 2,300,000 → "2.3M"; None → "?"."""
    if value is None:
        return "?"
    for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if value >= size:
            return f"{value / size:.1f}".rstrip("0").rstrip(".") + suffix
    return str(value)


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{round(value * 100)}%"


@register.filter
def span(value: timedelta | None) -> str:
    """“1 h 05 min”, “12 min”, “40 s”; an em dash when there is nothing to measure."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 48:
        return _("%(sign)s%(d)d d %(h)d h") % {"sign": sign, "d": hours // 24, "h": hours % 24}
    if hours:
        return f"{sign}{hours} h {minutes:02d} min"
    if minutes:
        return f"{sign}{minutes} min"
    return f"{sign}{secs} s"


@register.filter
def change(value: float | None) -> str:
    """A relative change as “+35%” or “-20%” (with a true minus sign)."""
    if value is None:
        return "—"
    pct = round(value * 100)
    return f"+{pct}%" if pct > 0 else f"\u2212{abs(pct)}%" if pct < 0 else "±0%"


@register.filter
def ls_share(totals: object, part: str) -> str:
    """Share of a chart's mentions in one "scored by" group, e.g. "12%"."""
    total = getattr(totals, "total", 0)
    if part == "unscored_only":
        count = getattr(totals, "unscored", 0) - getattr(totals, "pending", 0)
    else:
        count = getattr(totals, part, 0)
    return f"{round(100 * count / total)}%" if total else "0%"
