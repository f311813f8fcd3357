from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import dateformat, timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from incidents.models import (
    SEVERITY_MEANING,
    Incident,
    IncidentRole,
    Scenario,
    Severity,
    Status,
)

register = template.Library()


# The few date formats the templates use, as strftime patterns: Django's dateformat is ~10x slower, and
# list pages format hundreds of times per request. Anything else falls back to dateformat.
_FAST_FORMATS = {
    "j M, H:i": "{d} {m}, {t}",
    "j M Y, H:i": "{d} {m} {y}, {t}",
    "H:i": "{t}",
    "j M H:i": "{d} {m} {t}",
}


@register.simple_tag
def when(value: datetime | None, fmt: str = "j M, H:i") -> SafeString | str:
    """A time in the viewer's zone, with the zone named; the full timestamp is in the tooltip.

    Built with an f-string rather than format_html: every part is a formatted date (no user text).
    """
    if value is None:
        return "—"
    local = value.astimezone(timezone.get_current_timezone())
    zone = local.tzname() or ""
    pattern = _FAST_FORMATS.get(fmt)
    if pattern is None:
        text = dateformat.format(local, fmt)
    else:
        text = pattern.format(d=local.day, m=_MONTHS[local.month - 1], y=local.year, t=f"{local:%H:%M}")
    return mark_safe(
        f'<time datetime="{value.isoformat()}" title="{local:%Y-%m-%d %H:%M:%S} {zone}">'
        f'{text} <abbr class="tz">{zone}</abbr></time>'
    )


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


_BADGE_STATUS = {s.value: s.label for s in Status}
_BADGE_SEVERITY = {s.value: s.label for s in Severity}


@register.simple_tag
def badges(incident: Incident) -> SafeString:
    """Severity, status, drill and restricted badges — one call per row instead of an include."""
    sev = incident.severity
    parts = [
        f'<span class="sev sev-{sev}" title="{escape(SEVERITY_MEANING.get(sev, ""))}">{_BADGE_SEVERITY.get(sev, sev)}</span>',
        f'<span class="status status-{incident.status}">{_BADGE_STATUS.get(incident.status, incident.status)}</span>',
    ]
    if incident.is_drill:
        parts.append('<span class="badge badge-drill" title="A rehearsal: kept out of metrics">DRILL</span>')
    if incident.is_restricted:
        parts.append(
            '<span class="badge badge-restricted" title="Only the incident team can see this incident">Restricted</span>'
        )
    return mark_safe(" ".join(parts))


@register.filter
def age(value: datetime | None) -> str:
    """Compact elapsed time ("3h 12m") — at 2 a.m. nobody wants to read "3 hours, 12 minutes"."""
    if value is None:
        return ""
    return age_between(value, timezone.now())


@register.filter
def severity_meaning(value: str) -> str:
    return SEVERITY_MEANING.get(str(value), "")


@register.filter
def severity_name(value: str) -> str:
    """The one-word name of a severity ("Critical"), from the start of its meaning."""
    return SEVERITY_MEANING.get(str(value), "").split(":", 1)[0]


# --- list rows ---------------------------------------------------------------------------------------------
# The dashboard and the archive render one row per incident. As template loops they cost ~0.2 ms a row
# (hundreds of variable lookups); built here they cost a fraction of that. The markup is the same.

_SCENARIO = {s.value: s.label for s in Scenario}


@register.simple_tag
def dashboard_row(incident: Incident) -> SafeString:
    local = incident.declared_at.astimezone(timezone.get_current_timezone())
    commander = escape(str(incident.commander)) if incident.commander_id else "nobody yet"
    return mark_safe(
        f'<li class="incident-row incident-row-{incident.severity}">'
        f'<a class="incident-link" href="{incident.room_url}">'
        f'<span class="incident-ref">{escape(incident.reference)}</span>'
        f'<span class="incident-title">{escape(incident.title)}</span></a>'
        f'<div class="incident-meta">{badges(incident)}'
        f'<span class="meta" title="Declared {local:%d %b %H:%M} {local.tzname()}">open {age(incident.declared_at)}</span>'
        f'<span class="meta">Commander: {commander}</span></div></li>'
    )


@register.simple_tag
def my_incident_row(incident: Incident, roles: list[IncidentRole]) -> SafeString:
    chips = " ".join(
        f'<span class="role-chip{" role-chip-command" if role.is_command else ""}">{escape(role.name)}</span>'
        for role in roles
    )
    return mark_safe(
        f'<li><a href="{incident.room_url}"><span class="incident-ref">{escape(incident.reference)}</span> '
        f'{escape(incident.title)}</a><div class="incident-meta">{badges(incident)}</div>'
        f'<div class="role-lines-inline">{chips}</div></li>'
    )


@register.simple_tag
def past_row(incident: Incident) -> SafeString:
    flags = ""
    if incident.is_drill:
        flags += ' <span class="badge badge-drill">DRILL</span>'
    if incident.is_restricted:
        flags += ' <span class="badge badge-restricted">Restricted</span>'
    resolved = "—"
    if incident.resolved_at:
        took = age_between(incident.declared_at, incident.resolved_at)
        resolved = f'{when(incident.resolved_at, "j M Y, H:i")} <span class="help">after {took}</span>'
    return mark_safe(
        f'<tr><td data-label="Incident"><a href="{incident.room_url}"><span class="incident-ref">'
        f"{escape(incident.reference)}</span> {escape(incident.title)}</a>{flags}</td>"
        f'<td data-label="Severity"><span class="sev sev-{incident.severity}">{_BADGE_SEVERITY[incident.severity]}</span></td>'
        f'<td data-label="Scenario">{_SCENARIO.get(incident.scenario, "")}</td>'
        f'<td data-label="Declared">{when(incident.declared_at, "j M Y, H:i")}</td>'
        f'<td data-label="Resolved">{resolved}</td>'
        f'<td data-label="Status"><span class="status status-{incident.status}">{_BADGE_STATUS[incident.status]}</span></td></tr>'
    )


def age_between(start: datetime, end: datetime) -> str:
    seconds = max(0, int((end - start).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {rest // 60:02d}m" if hours else f"{rest // 60}m"
