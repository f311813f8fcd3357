"""Declaring from a playbook: the version a declare form is about, the playbooks offered, the people its
approval chains need, and one transaction that declares, staffs, schedules the checklist and (for a drill)
the injects.

A playbook whose chain starts with Legal but proposes nobody for Legal used to leave the commander to add
someone by hand after declaring, and every statement waited (issue #15). `chain_staffing` finds every role
the chains its statements would go through need and proposes someone for each — the playbook's own person,
else the step's named approver, else whoever held that role most often in the organisation's incidents —
and says at once, on the form, which step would have nobody (`rules.check_chain_can_complete`, the rule
submitting applies). May import models, this app's services and the base app's lifecycle, team, deadline
and timeline services and statement chain rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, F, Prefetch
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from incidents.models import (
    ApprovalChainTemplate,
    ApprovalStepTemplate,
    DeadlineKind,
    Incident,
    RoleAssignment,
    TimelineEntry,
    User,
)
from incidents.playbooks.clocks import start_clocks
from incidents.playbooks.models import DrillInject, IncidentPlaybook, Playbook, PlaybookRole, PlaybookVersion
from incidents.playbooks.services import PlaybookError
from incidents.services.checklist import NewDeadline, deadlines_create
from incidents.services.lifecycle import incident_declare
from incidents.services.statements.chains import chain_plan, pick_chain
from incidents.services.statements.rules import ChainStalled, StepNeed, a_role, check_chain_can_complete
from incidents.services.team import Staffing, team_staff
from incidents.services.timeline import organisation_language, timeline_record


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
    drill_speed: int | None = None,
) -> Declared:
    """Declare, staff, schedule the checklist and (for a drill) the injects, in one transaction."""
    playbook = version.playbook
    if playbook.is_retired:
        raise PlaybookError(
            _("The playbook “%(name)s” has been retired; choose another.") % {"name": playbook.name}
        )
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
        drill_speed=drill_speed,
    )
    IncidentPlaybook.objects.create(incident=incident, version=version)
    result = Declared(incident=incident)
    holders: dict[int, User] = {}
    # Who holds what already (the commander; the declarer as deputy when they named someone else).
    held = set(RoleAssignment.objects.current().filter(incident=incident).values_list("user_id", "role_id"))
    with organisation_language():  # the assignments' note goes on the timeline, read by everyone
        note = (
            _("DRILL — From the playbook “%(name)s”") if is_drill else _("From the playbook “%(name)s”")
        ) % {"name": playbook.name}
    picks: list[Staffing] = []
    for pick in team:
        if pick.person is None:
            continue
        if (pick.person.pk, pick.slot.role_id) in held:
            holders.setdefault(pick.slot.role_id, pick.person)
            continue
        backup = pick.backup if pick.backup != pick.person else None
        picks.append(Staffing(user=pick.person, role=pick.slot.role, backup=backup))
        held.add((pick.person.pk, pick.slot.role_id))  # named twice for one role: once is enough
    assignments, skipped = team_staff(incident=incident, actor=actor, picks=picks, note=note)
    result.skipped += skipped
    for assignment in assignments:
        holders.setdefault(assignment.role_id, assignment.user)
    tasks = list(version.tasks.select_related("role"))
    deadlines_create(
        incident=incident,
        kind=DeadlineKind.TASK,
        items=[
            NewDeadline(
                title=task.title,
                due_at=incident.declared_at + incident.scaled(timedelta(minutes=task.offset_minutes)),
                owner=holders.get(task.role_id) if task.role_id else None,
                role=task.role,
                notes=task.notes,
                key=f"playbook-task:{task.pk}",
            )
            for task in tasks
        ],
        actor=actor,
    )
    start_clocks(incident=incident, version=version, actor=actor)  # regulatory clocks (GDPR Art. 33 …)
    injects = list(version.injects.all()) if is_drill else []
    DrillInject.objects.bulk_create(
        DrillInject(
            incident=incident,
            source=x,
            due_at=incident.declared_at + incident.scaled(timedelta(seconds=x.offset_seconds)),
            kind=x.kind,
            text=x.text,
        )
        for x in injects
    )
    with organisation_language():  # stored once, read by everyone
        values = {
            "name": playbook.name,
            "version": version.number,
            "tasks": ngettext("%(n)d task scheduled", "%(n)d tasks scheduled", len(tasks))
            % {"n": len(tasks)},
            "roles": ngettext("%(n)d role staffed", "%(n)d roles staffed", len(holders))
            % {"n": len(holders)},
            "injects": ngettext("%(n)d scripted inject", "%(n)d scripted injects", len(injects))
            % {"n": len(injects)},
        }
        text = (
            _(
                "DRILL — Declared from the playbook “%(name)s” v%(version)s: %(tasks)s, %(roles)s, %(injects)s to come."
            )
            if is_drill
            else _("Declared from the playbook “%(name)s” v%(version)s: %(tasks)s, %(roles)s")
        ) % values
        timeline_record(incident=incident, kind=TimelineEntry.Kind.STATUS, actor=actor, text=text)
    return result


# --- the people the approval chains need -----------------------------------------------------------------------


@dataclass
class ChainStaffing:
    """What the declare form shows about approvals: the extra role slots it adds (roles the chains need that
    the playbook does not list), and the steps that would have nobody, in words."""

    chains: list[ApprovalChainTemplate]
    extra: list[PlaybookRole]  # unsaved: a role to fill, `proposed` set when someone fits
    gaps: list[str]


def _chains_for(version: PlaybookVersion, severity: str) -> list[ApprovalChainTemplate]:
    """The chains this playbook's statements would go through on an incident of `severity`: for each
    audience its templates address (the public, when it has none), full and pure-fill alike. Four queries."""
    active = list(
        ApprovalChainTemplate.objects.filter(is_active=True)
        .select_related("fill_chain")
        .prefetch_related(
            Prefetch("steps", queryset=ApprovalStepTemplate.objects.select_related("role").order_by("order")),
            "steps__users",
        )
    )
    audiences = set(version.templates.values_list("template__audience", flat=True))
    found: dict[int, ApprovalChainTemplate] = {}
    for audience in sorted(audiences or {"public"}):
        for fill_only in (False, True):
            chain = pick_chain(
                active,
                severity=severity,
                audience=audience,
                scenario=version.playbook.scenario,
                fill_only=fill_only,
                named=version.approval_chain_id,
            )
            if chain is not None:
                found.setdefault(chain.pk, chain)
    return list(found.values())


def _held_most_often(role_ids: set[int]) -> dict[int, list[User]]:
    """For each role, the active people who held it in the organisation's incidents, most often first
    (two queries, whatever the number of roles)."""
    if not role_ids:
        return {}
    rows = list(
        RoleAssignment.objects.filter(role_id__in=role_ids, user__is_active=True)
        .values("role_id", "user_id")
        .annotate(times=Count("id"))
        .order_by("role_id", "-times", "user_id")
    )
    users = User.objects.in_bulk({r["user_id"] for r in rows})
    ranked: dict[int, list[User]] = {}
    for r in rows:
        ranked.setdefault(r["role_id"], []).append(users[r["user_id"]])
    return ranked


def chain_staffing(
    version: PlaybookVersion, slots: list[PlaybookRole], *, severity: str, declarer: User
) -> ChainStaffing:
    """Every role the playbook's approval chains need, with a proposal for each, and the steps that would
    have nobody. Sets `proposed` on the playbook's slots for those roles that name nobody (in memory only)."""
    chains = _chains_for(version, severity)
    by_role = {slot.role_id: slot for slot in slots}
    proposed: dict[int, User | None] = {
        slot.role_id: slot.person for slot in slots if slot.person is not None and slot.person.is_active
    }
    wanted = {st.role_id for c in chains for st in c.steps.all() if st.role_id is not None}
    # Who already decides a step: not proposed for another (a scribe may well be the lawyer too).
    taken = {u.pk for role_id, u in proposed.items() if u is not None and role_id in wanted}
    ranked = _held_most_often({r for r in wanted if proposed.get(r) is None})
    extra: list[PlaybookRole] = []
    for chain in chains:
        for step in chain.steps.all():
            role = step.role
            if role is None or proposed.get(role.pk) is not None:
                continue
            named = [u for u in step.users.all() if u.is_active]
            person = next((u for u in [*named, *ranked.get(role.pk, [])] if u.pk not in taken), None)
            proposed[role.pk] = person
            if person is not None:
                taken.add(person.pk)
            slot = by_role.get(role.pk)
            if slot is None:
                slot = PlaybookRole(version=version, role=role, order=1000 + len(extra))
                by_role[role.pk] = slot
                extra.append(slot)
            slot.proposed = person  # type: ignore[attr-defined]
    gaps = []
    for chain in chains:
        needs = [
            StepNeed(
                order=step.order,
                name=step.name,
                role_id=step.role_id,
                role_name=step.role.name if step.role is not None else "",
                required=1,
                eligible=frozenset(
                    {u.pk for u in step.users.all() if u.is_active}
                    | ({p.pk} if step.role_id and (p := proposed.get(step.role_id)) is not None else set())
                    | ({declarer.pk} if step.role is not None and step.role.is_command else set())
                ),
                distinct_approvers=chain.distinct_approvers,
            )
            for step in chain.steps.all()
        ]
        try:
            check_chain_can_complete(needs, author_id=0)
        except ChainStalled as stalled:
            gap = stalled.step
            who = a_role(gap.role_name) if gap.role_name else _("an approver")
            gaps.append(
                _(
                    "Step %(order)d (%(name)s) of “%(chain)s” would have nobody: name %(who)s below, or every "
                    "statement will wait for one."
                )
                % {"order": gap.order, "name": gap.name, "chain": chain.name, "who": who}
            )
    return ChainStaffing(chains=chains, extra=extra, gaps=gaps)


def unstaffed_steps(incident: Incident, staffing: ChainStaffing | None) -> list[str]:
    """After declaring: the chain steps nobody in the team may decide yet (the declarer emptied a proposal,
    or nobody fitted), by the rule submitting applies — said once, so nobody finds out at the first
    statement."""
    gaps = []
    for chain in staffing.chains if staffing is not None else []:
        plan = chain_plan(  # the steps as `chain_staffing` read them (ordered, with roles and people)
            incident=incident, chain=chain, author_id=0, with_people=False, steps_read=list(chain.steps.all())
        )
        if plan.stalled is not None:
            step = plan.stalled.step
            who = a_role(step.role_name) if step.role_name else _("an approver")
            gaps.append(
                _(
                    "Nobody on the team can decide step %(order)d (%(name)s) of “%(chain)s” yet: add %(who)s "
                    "in the room before the first statement is submitted."
                )
                % {"order": step.order, "name": step.name, "chain": chain.name, "who": who}
            )
    return gaps


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
