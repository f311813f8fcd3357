"""Reading the audit log for administrators: filters, keyset pages, and what a row may show.

Restricted incidents are visible to their team only, administrators included (README). The log keeps that
rule: a row about an incident the administrator cannot see — or an incident-scoped row whose incident the
trigger could not place — is shown only as its envelope: when it happened, the operation, the kind of
record and its place in the hash chain. Its actor, request, record id, incident and values are left out.
So the administrator sees that the log is complete and whom to ask (the incident's team), without learning
what happened or who was involved. Filtering by actor, request or incident only ever matches rows the
administrator may read in full, so a filter cannot be used to probe hidden rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.audit import tables
from incidents.audit.models import AuditEvent, AuditSeal, Operation
from incidents.models import Incident, User
from incidents.permissions import visible_incidents

PAGE_SIZE = 50
VALUE_CHARS = 240
SPECIAL_ACTORS = ("system", "anonymous", "task", "command")


@dataclass(frozen=True)
class LogFilters:
    table: str = ""
    actor: str = ""  # "user:<id>", or one of SPECIAL_ACTORS
    incident: str = ""  # a reference as typed, e.g. INC-2026-0042
    request: str = ""
    since: date | None = None
    until: date | None = None
    errors: tuple[str, ...] = ()

    @classmethod
    def from_params(cls, params: Any) -> LogFilters:
        errors: list[str] = []
        table = str(params.get("table", ""))
        actor = str(params.get("actor", ""))
        if not (actor in SPECIAL_ACTORS or (actor.startswith("user:") and actor[5:].isdigit())):
            actor = ""
        request = str(params.get("request", "")).strip()[:64]
        since = _date(str(params.get("since", "")), _("From"), errors)
        until = _date(str(params.get("until", "")), _("To"), errors)
        if since and until and since > until:
            errors.append(_("The period starts after it ends; showing all dates."))
            since = until = None
        return cls(
            table=table if table in tables.BY_TABLE else "",
            actor=actor,
            incident=" ".join(str(params.get("incident", "")).split())[:40],
            request=request if request.replace("-", "").isalnum() else "",
            since=since,
            until=until,
            errors=tuple(errors),
        )

    @property
    def active(self) -> bool:
        return bool(self.table or self.actor or self.incident or self.request or self.since or self.until)

    def query(self) -> str:
        """The filters as a query string prefix, for the "older" link."""
        from urllib.parse import urlencode

        pairs = {
            "table": self.table,
            "actor": self.actor,
            "incident": self.incident,
            "request": self.request,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return urlencode({k: v for k, v in pairs.items() if v})


def _date(raw: str, label: str, errors: list[str]) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.append(
            _("%(label)s: “%(value)s” is not a date (use YYYY-MM-DD); ignored.")
            % {"label": label, "value": raw[:20]}
        )
        return None


@dataclass
class Row:
    event: AuditEvent
    hidden: bool
    label: str
    seq: int | None
    incident: Incident | None = None
    actor_name: str = ""
    changes: list[tuple[str, str, str]] = field(default_factory=list)  # column, before, after
    values: list[tuple[str, str]] = field(default_factory=list)  # column, value (created/deleted rows)

    @property
    def operation(self) -> str:
        return str(Operation(self.event.op).label)


@dataclass
class HiddenRun:
    """Consecutive rows about restricted incidents the viewer is not on, shown as one line."""

    rows: list[Row]
    hidden: bool = True

    @property
    def first(self) -> AuditEvent:
        return self.rows[0].event

    @property
    def last(self) -> AuditEvent:
        return self.rows[-1].event

    @property
    def kinds(self) -> str:
        counts: dict[str, int] = {}
        for row in self.rows:
            key = f"{row.operation} {row.label}"
            counts[key] = counts.get(key, 0) + 1
        return ", ".join(f"{kind} ×{n}" if n > 1 else kind for kind, n in counts.items())

    @property
    def seqs(self) -> str:
        sealed = [r.seq for r in self.rows if r.seq is not None]
        if not sealed:
            return ""
        return f"#{min(sealed)}" if min(sealed) == max(sealed) else f"#{min(sealed)}–#{max(sealed)}"  # noqa: RUF001


@dataclass
class LogPage:
    rows: list[Row]
    next_cursor: int | None
    incident: Incident | None  # the incident filter, resolved
    errors: list[str]

    @property
    def items(self) -> list[Row | HiddenRun]:
        items: list[Row | HiddenRun] = []
        for row in self.rows:
            if row.hidden and items and isinstance(items[-1], HiddenRun):
                items[-1].rows.append(row)
            else:
                items.append(HiddenRun([row]) if row.hidden else row)
        return items


def log_page(viewer: User, filters: LogFilters, before: str = "") -> LogPage:
    """Newest first, keyset on id (no OFFSET, no COUNT)."""
    errors = list(filters.errors)
    visible = visible_incidents(viewer)
    readable = Q(incident_id__in=visible.values("pk")) | Q(
        incident_id__isnull=True, table_name__in=[a.table for a in tables.AUDITED if not a.incident_scoped]
    )
    qs = AuditEvent.objects.order_by("-id")
    incident = None
    if filters.incident:
        incident = visible.filter(reference__iexact=filters.incident).first()
        if incident is None:
            errors.append(_("No incident “%(ref)s” that you can see.") % {"ref": filters.incident})
            return LogPage([], None, None, errors)
        qs = qs.filter(incident_id=incident.pk)
    if filters.actor or filters.request or incident is not None:
        qs = qs.filter(readable)
    if filters.table:
        qs = qs.filter(table_name=filters.table)
    if filters.actor.startswith("user:"):
        qs = qs.filter(actor_id=int(filters.actor[5:]))
    elif filters.actor in ("task", "command"):
        qs = qs.filter(actor__startswith=f"{filters.actor}:")
    elif filters.actor:
        qs = qs.filter(actor=filters.actor)
    if filters.request:
        qs = qs.filter(request_id=filters.request)
    tz = timezone.get_current_timezone()
    if filters.since:
        qs = qs.filter(occurred_at__gte=datetime.combine(filters.since, time.min, tz))
    if filters.until:
        qs = qs.filter(occurred_at__lt=datetime.combine(filters.until + timedelta(days=1), time.min, tz))
    if before.isdigit():
        qs = qs.filter(id__lt=int(before))
    events = list(qs[: PAGE_SIZE + 1])
    more = len(events) > PAGE_SIZE
    events = events[:PAGE_SIZE]
    return LogPage(_rows(viewer, events), events[-1].pk if more and events else None, incident, errors)


def _rows(viewer: User, events: list[AuditEvent]) -> list[Row]:
    incident_ids = {e.incident_id for e in events if e.incident_id is not None}
    incidents = (
        {
            i.pk: i
            for i in visible_incidents(viewer)
            .filter(pk__in=incident_ids)
            .only("pk", "reference", "code", "title")
        }
        if incident_ids
        else {}
    )
    seqs = dict(AuditSeal.objects.filter(event_id__in=[e.pk for e in events]).values_list("event_id", "seq"))
    rows = []
    for event in events:
        if event.incident_id is not None:
            hidden = event.incident_id not in incidents
        else:
            hidden = tables.incident_scoped(event.table_name)
        row = Row(event, hidden, tables.label(event.table_name), seqs.get(event.pk))
        if not hidden:
            row.incident = incidents.get(event.incident_id) if event.incident_id is not None else None
            if event.op == Operation.UPDATE:
                old, new = event.old_values or {}, event.new_values or {}
                row.changes = [(c, _show(old.get(c)), _show(new.get(c))) for c in event.changed]
            else:
                row.values = [(k, _show(v)) for k, v in (event.new_values or event.old_values or {}).items()]
        rows.append(row)
    names = dict(
        User.objects.filter(
            pk__in={r.event.actor_id for r in rows if not r.hidden and r.event.actor_id}
        ).values_list("pk", "display_name")
    )
    for row in rows:
        if not row.hidden:
            row.actor_name = actor_name(row.event, names)
    return rows


def actor_name(event: AuditEvent, names: dict[int, str]) -> str:
    actor = event.actor
    if event.actor_id is not None:
        return names.get(event.actor_id) or _("person #%(id)s (deleted)") % {"id": event.actor_id}
    if actor.startswith("task:"):
        return _("Background task %(name)s") % {"name": actor[5:]}
    if actor.startswith("command:"):
        return _("Command %(name)s") % {"name": actor[8:]}
    if actor == "anonymous":
        return _("Someone not logged in")
    return _("System (no request, task or command)")


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def actor_choices() -> list[tuple[str, str]]:
    people = User.objects.order_by("display_name", "pk").values_list("pk", "display_name")
    return [
        ("system", _("System (no context)")),
        ("task", _("Background tasks")),
        ("command", _("Management commands")),
        ("anonymous", _("Not logged in")),
        *((f"user:{pk}", name) for pk, name in people),
    ]


def table_choices() -> list[tuple[str, str]]:
    return sorted(((a.table, str(a.label)) for a in tables.AUDITED), key=lambda pair: pair[1])
