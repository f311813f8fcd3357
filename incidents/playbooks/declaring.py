"""Declaring from a playbook: the version a declare form is about, the playbooks offered, and one
transaction that declares, staffs, schedules the checklist and (for a drill) the injects.

May import models, this app's services and the base app's lifecycle, team, deadline and timeline services.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F

from incidents.models import DeadlineKind, Incident, RoleAssignment, TimelineEntry, User
from incidents.playbooks.clocks import start_clocks
from incidents.playbooks.models import DrillInject, IncidentPlaybook, Playbook, PlaybookRole, PlaybookVersion
from incidents.playbooks.services import PlaybookError
from incidents.services.deadlines import deadline_create
from incidents.services.lifecycle import incident_declare
from incidents.services.team import TeamError, assign_role
from incidents.services.timeline import timeline_record


@dataclass(frozen=True)
class TeamPick:
    """One proposed role as the declarer left it: the person (None: leave unfilled) and their backup."""

    slot: PlaybookRole
    person: User | None
    backup: User | None = None


@dataclass
class Declared:
    incident: Incident
    skipped: list[str] = field(default_factory=list)


@transaction.atomic
def declare_from_playbook(
    *,
    actor: User,
    version: PlaybookVersion,
    title: str,
    severity: str,
    team: Sequence[TeamPick] = (),
    summary: str = "",
    affected_platforms: Iterable[str] = (),
    detected_at: datetime | None = None,
    is_drill: bool = False,
    is_restricted: bool = False,
    commander: User | None = None,
) -> Declared:
    """Declare, staff, schedule the checklist and (for a drill) the injects, in one transaction."""
    playbook = version.playbook
    if playbook.is_retired:
        raise PlaybookError(f"The playbook “{playbook.name}” has been retired; choose another.")
    incident = incident_declare(
        actor=actor,
        title=title,
        scenario=playbook.scenario,
        severity=severity,
        summary=summary,
        affected_platforms=affected_platforms,
        detected_at=detected_at,
        is_drill=is_drill,
        is_restricted=is_restricted,
        commander=commander,
    )
    IncidentPlaybook.objects.create(incident=incident, version=version)
    result = Declared(incident=incident)
    holders: dict[int, User] = {}
    # Who holds what already (the commander; the declarer as deputy when they named someone else).
    held = set(RoleAssignment.objects.current().filter(incident=incident).values_list("user_id", "role_id"))
    for pick in team:
        if pick.person is None:
            continue
        if (pick.person.pk, pick.slot.role_id) in held:
            holders.setdefault(pick.slot.role_id, pick.person)
            continue
        try:
            assign_role(
                incident=incident,
                actor=actor,
                user=pick.person,
                role=pick.slot.role,
                backup=pick.backup if pick.backup != pick.person else None,
                note=f"{'DRILL — ' if is_drill else ''}From the playbook “{playbook.name}”",
            )
        except TeamError as exc:
            result.skipped.append(str(exc))
            continue
        held.add((pick.person.pk, pick.slot.role_id))
        holders.setdefault(pick.slot.role_id, pick.person)
    tasks = list(version.tasks.select_related("role"))
    for task in tasks:
        deadline_create(
            incident=incident,
            kind=DeadlineKind.TASK,
            title=task.title,
            due_at=incident.declared_at + timedelta(minutes=task.offset_minutes),
            owner=holders.get(task.role_id) if task.role_id else None,
            role=task.role,
            actor=actor,
            notes=task.notes,
            key=f"playbook-task:{task.pk}",
        )
    start_clocks(incident=incident, version=version, actor=actor)  # regulatory clocks (GDPR Art. 33 …)
    injects = list(version.injects.all()) if is_drill else []
    DrillInject.objects.bulk_create(
        DrillInject(
            incident=incident,
            source=x,
            due_at=incident.declared_at + timedelta(seconds=x.offset_seconds),
            kind=x.kind,
            text=x.text,
        )
        for x in injects
    )
    staffed = len(holders)
    text = (
        f"Declared from the playbook “{playbook.name}” v{version.number}: {len(tasks)} task"
        f"{'s' if len(tasks) != 1 else ''} scheduled, {staffed} role{'s' if staffed != 1 else ''} staffed"
    )
    if is_drill:
        text = f"DRILL — {text}, {len(injects)} scripted inject{'s' if len(injects) != 1 else ''} to come."
    timeline_record(incident=incident, kind=TimelineEntry.Kind.STATUS, actor=actor, text=text)
    return result


def version_to_declare(code: object, number: object = None) -> PlaybookVersion | None:
    """The playbook version a declare form is about: the one it was shown (`number`), else the newest.
    None for no playbook or an unknown one; retired playbooks are refused when declaring."""
    try:
        key = uuid.UUID(str(code)) if code else None
        wanted = int(str(number)) if number else None
    except ValueError:
        return None
    if key is None:
        return None
    playbook = Playbook.objects.filter(code=key).first()
    if playbook is None:
        return None
    return (
        PlaybookVersion.objects.select_related("playbook")
        .filter(playbook=playbook, number=wanted or playbook.latest_number)
        .first()
    )


def declare_choices() -> list[Playbook]:
    """Playbooks offered on the declare page, with the newest version's severity for the cards."""
    playbooks = list(Playbook.objects.active().order_by("name"))
    latest = {
        v.playbook_id: v
        for v in PlaybookVersion.objects.filter(
            playbook__in=playbooks, number=F("playbook__latest_number")
        ).only("playbook_id", "default_severity", "number")
    }
    for p in playbooks:
        p.current = latest.get(p.pk)  # type: ignore[attr-defined]
    return playbooks
