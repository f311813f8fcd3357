"""Formatting for templates: times in the viewer's zone, badges, compact ages, and the dashboard and archive
rows. Formatting only — what is shown is decided by views and models. May import models and
incidents.timetext only.

Every piece of HTML built here goes through `format_html`/`format_html_join`, which escape each value;
nothing is marked safe by hand.
"""

from __future__ import annotations

import functools
from datetime import datetime, tzinfo
from uuid import UUID

from django import template
from django.utils import dateformat, timezone, translation
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from incidents.mentions import plain, render_plain_text
from incidents.models import (
    SEVERITY_MEANING,
    Incident,
    IncidentRole,
    Scenario,
    Severity,
    Status,
)
from incidents.models.incident import room_url_for
from incidents.timetext import for_zone, month_abbr

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
    """A time in the viewer's zone, with the zone named; the full timestamp is in the tooltip."""
    if value is None:
        return "—"
    local = value.astimezone(timezone.get_current_timezone())
    zone = local.tzname() or ""
    pattern = _FAST_FORMATS.get(fmt)
    if pattern is None:
        text = dateformat.format(local, fmt)
    else:
        text = pattern.format(d=local.day, m=month_abbr(local.month), y=local.year, t=f"{local:%H:%M}")
    return format_html(
        '<time datetime="{}" title="{}">{} {}</time>',
        value.isoformat(),
        f"{local:%Y-%m-%d %H:%M:%S} {zone}",
        text,
        _zone(zone),
    )


@functools.cache
def _zone(name: str) -> SafeString:
    return format_html('<abbr class="tz">{}</abbr>', name)


_BADGE_STATUS = {s.value: s.label for s in Status}
_BADGE_SEVERITY = {s.value: s.label for s in Severity}


@register.simple_tag
def badges(incident: Incident) -> SafeString:
    """Severity, status, drill and restricted badges — one call per row instead of an include."""
    return _badges(
        incident.severity,
        incident.status,
        incident.is_drill,
        incident.is_restricted,
        translation.get_language(),
    )


@functools.cache
def _badges(severity: str, status: str, drill: bool, restricted: bool, language: str | None) -> SafeString:
    # A few dozen combinations per language, no user text: built once each (list pages show hundreds of rows).
    return format_html(
        '<span class="sev sev-{}" title="{}">{}</span> <span class="status status-{}">{}</span>{}{}',
        severity,
        SEVERITY_MEANING.get(severity, ""),
        _BADGE_SEVERITY.get(severity, severity),
        status,
        _BADGE_STATUS.get(status, status),
        _drill_badge() if drill else "",
        _restricted_badge() if restricted else "",
    )


def _drill_badge() -> SafeString:
    return format_html(
        ' <span class="badge badge-drill" title="{}">{}</span>',
        _("A rehearsal: kept out of metrics"),
        _("DRILL"),
    )


def _restricted_badge() -> SafeString:
    return format_html(
        ' <span class="badge badge-restricted" title="{}">{}</span>',
        _("Only the incident team can see this incident"),
        _("Restricted"),
    )


@register.filter
def local_stamps(value: str | None) -> str:
    """A stored text with its time stamps ("2026-06-03 18:00 UTC", incidents.timetext) restated in the
    viewer's zone, named. Plain text out: autoescaping still applies."""
    return for_zone(value or "", timezone.get_current_timezone())


@register.filter
def mentions(value: str | None) -> SafeString:
    """A person's plain text: escaped, line breaks kept, @mentions shown as the highlighted name."""
    return render_plain_text(value or "")


@register.filter
def age(value: datetime | None) -> str:
    """Compact elapsed time ("3h 12m") — at 2 a.m. nobody wants to read "3 hours, 12 minutes"."""
    if value is None:
        return ""
    return age_between(value, timezone.now())


@register.filter
def severity_meaning(value: str) -> str:
    return str(SEVERITY_MEANING.get(str(value), ""))


@register.filter
def severity_name(value: str) -> str:
    """The one-word name of a severity ("Critical"), from the start of its meaning."""
    return str(SEVERITY_MEANING.get(str(value), "")).split(":", 1)[0]


# --- list rows ---------------------------------------------------------------------------------------------
# The dashboard and the archive render one row per incident. As template loops (or a partial per row) they
# cost ~0.2 ms a row (hundreds of variable lookups); built here with format_html, a few microseconds.

_SCENARIO = {s.value: s.label for s in Scenario}


# A row depends only on the values it shows, the viewer's language and zone (and, on the dashboard, the
# incident's age): the HTML is memoised on exactly those, so a row is rebuilt only when one of them changes
# — nothing can go stale. Live dashboards re-fetch the same rows many times a minute; a few thousand rows
# of a few hundred bytes bound the memory.
_ROW_CACHE_SIZE = 4096


@register.simple_tag
def dashboard_row(incident: Incident) -> SafeString:
    return _dashboard_row(
        incident.severity,
        incident.status,
        incident.is_drill,
        incident.is_restricted,
        incident.code,
        incident.reference,
        incident.title,
        incident.state_line,
        incident.declared_at,
        str(incident.commander) if incident.commander_id else None,
        age(incident.declared_at),
        timezone.get_current_timezone(),
        translation.get_language(),
    )


@functools.lru_cache(maxsize=_ROW_CACHE_SIZE)
def _dashboard_row(
    severity: str,
    status: str,
    drill: bool,
    restricted: bool,
    code: UUID,
    reference: str,
    title: str,
    state_line: str,
    declared_at: datetime,
    commander: str | None,
    open_for: str,
    zone: tzinfo,
    language: str | None,
) -> SafeString:
    local = declared_at.astimezone(zone)
    return format_html(
        '<li class="incident-row incident-row-{}"><a class="incident-link" href="{}">'
        '<span class="incident-ref">{}</span><span class="incident-title">{}</span></a>{}'
        '<div class="incident-meta">{}<span class="meta" title="{}">{}</span>'
        '<span class="meta">{}</span></div></li>',
        severity,
        room_url_for(code),
        reference,
        title,
        _state_html(state_line),
        _badges(severity, status, drill, restricted, language),
        # Whole phrases through the catalogue, then escaped as arguments (the commander's name is user text).
        _("Declared %(time)s %(zone)s") % {"time": f"{local:%d %b %H:%M}", "zone": local.tzname()},
        _("open %(age)s") % {"age": open_for},
        _("Commander: %(name)s") % {"name": commander if commander is not None else _("nobody yet")},
    )


def _state_html(line: str) -> SafeString | str:
    """The incident's current state (living summary, else the declaration summary), mentions as names."""
    return format_html('<p class="incident-state">{}</p>', plain(line)) if line else ""


@register.simple_tag
def my_incident_row(incident: Incident, roles: list[IncidentRole]) -> SafeString:
    return _my_incident_row(
        incident.code,
        incident.reference,
        incident.title,
        incident.state_line,
        _badges(
            incident.severity,
            incident.status,
            incident.is_drill,
            incident.is_restricted,
            translation.get_language(),
        ),
        tuple((role.is_command, role.name) for role in roles),
    )


@functools.lru_cache(maxsize=_ROW_CACHE_SIZE)
def _my_incident_row(
    code: UUID,
    reference: str,
    title: str,
    state_line: str,
    badges_html: SafeString,
    roles: tuple[tuple[bool, str], ...],
) -> SafeString:
    chips = format_html_join(
        " ",
        '<span class="role-chip{}">{}</span>',
        ((" role-chip-command" if is_command else "", name) for is_command, name in roles),
    )
    return format_html(
        '<li><a href="{}"><span class="incident-ref">{}</span> {}</a>{}<div class="incident-meta">{}</div>'
        '<div class="role-lines-inline">{}</div></li>',
        room_url_for(code),
        reference,
        title,
        _state_html(state_line),
        badges_html,
        chips,
    )


@register.simple_tag
def past_row(incident: Incident) -> SafeString:
    return _past_row(
        incident.code,
        incident.reference,
        incident.title,
        incident.severity,
        incident.status,
        incident.scenario,
        incident.is_drill,
        incident.is_restricted,
        incident.declared_at,
        incident.resolved_at,
        timezone.get_current_timezone(),
        translation.get_language(),
    )


@functools.lru_cache(maxsize=_ROW_CACHE_SIZE)
def _past_row(
    code: UUID,
    reference: str,
    title: str,
    severity: str,
    status: str,
    scenario: str,
    drill: bool,
    restricted: bool,
    declared_at: datetime,
    resolved_at: datetime | None,
    zone: tzinfo,
    language: str | None,
) -> SafeString:
    # `when` formats in the active zone, which is `zone` (part of the key for that reason).
    resolved: SafeString | str = "—"
    if resolved_at:
        resolved = format_html(
            '{} <span class="help">{}</span>',
            when(resolved_at, "j M Y, H:i"),
            _("after %(age)s") % {"age": age_between(declared_at, resolved_at)},
        )
    flags, severity_html, scenario_html, status_html = _past_cells(
        severity, status, scenario, drill, restricted, language
    )
    return format_html(
        '<tr><td data-label="{}"><a href="{}"><span class="incident-ref">{}</span> {}</a>{}</td>'
        '<td data-label="{}">{}</td><td data-label="{}">{}</td><td data-label="{}">{}</td>'
        '<td data-label="{}">{}</td><td data-label="{}">{}</td></tr>',
        _("Incident"),
        room_url_for(code),
        reference,
        title,
        flags,
        _("Severity"),
        severity_html,
        _("Scenario"),
        scenario_html,
        _("Declared"),
        when(declared_at, "j M Y, H:i"),
        _("Resolved"),
        resolved,
        _("Status"),
        status_html,
    )


@functools.cache
def _past_cells(
    severity: str, status: str, scenario: str, drill: bool, restricted: bool, language: str | None
) -> tuple[SafeString, SafeString, SafeString, SafeString]:
    """The parts of an archive row that hold no user text (a few hundred combinations), built once each."""
    return (
        format_html(
            "{}{}",
            format_html(' <span class="badge badge-drill">{}</span>', _("DRILL")) if drill else "",
            format_html(' <span class="badge badge-restricted">{}</span>', _("Restricted"))
            if restricted
            else "",
        ),
        format_html('<span class="sev sev-{}">{}</span>', severity, _BADGE_SEVERITY[severity]),
        format_html("{}", _SCENARIO.get(scenario, "")),
        format_html('<span class="status status-{}">{}</span>', status, _BADGE_STATUS[status]),
    )


def age_between(start: datetime, end: datetime) -> str:
    seconds = max(0, int((end - start).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {rest // 60:02d}m" if hours else f"{rest // 60}m"
