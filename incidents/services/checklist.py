"""Creating deadlines, one (`deadline_create`) or many at once (`deadlines_create`: a playbook's checklist and
regulatory clocks, scheduled when an incident is declared from it) — one path, so both make the same rows,
reminders and nudges — and the per-severity response policy their reminder timing comes from. May import
models, live and the reminders service.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from incidents import live
from incidents.models import (
    ChainStep,
    Deadline,
    DeadlineKind,
    DeadlineState,
    Incident,
    IncidentRole,
    ResponsePolicy,
    RoleAssignment,
    Severity,
    Statement,
    User,
)
from incidents.services.reminders import plan_new_reminders

# Seeded policy (first response, update cadence) in minutes; admins edit ResponsePolicy rows.
DEFAULT_POLICY: dict[str, tuple[int, int]] = {
    Severity.SEV1: (30, 60),
    Severity.SEV2: (60, 120),
    Severity.SEV3: (240, 240),
    Severity.SEV4: (1440, 1440),
}


def policy_for(severity: str) -> ResponsePolicy:
    policy = ResponsePolicy.objects.filter(severity=severity).first()
    if policy is None:  # an admin deleted the row: fall back to the seeded values, never to "no deadline"
        first, cadence = DEFAULT_POLICY[severity]
        policy = ResponsePolicy(
            severity=severity, first_response_minutes=first, update_cadence_minutes=cadence
        )
    return policy


@dataclass(frozen=True)
class NewDeadline:
    """One deadline to create (`deadlines_create`). The reminder settings default to the severity policy's."""

    title: str
    due_at: datetime
    key: str = ""
    owner: User | None = None
    role: IncidentRole | None = None
    notes: str = ""
    statement: Statement | None = None
    chain_step: ChainStep | None = None
    remind_before_minutes: int | None = None
    escalation_grace_minutes: int | None = None


# Hooks call this inside statement and status changes: no savepoint (a round trip each way); it refuses
# nothing a caller could catch and carry on from, so a failure here fails the whole change anyway.
@transaction.atomic(savepoint=False)
def deadline_create(
    *,
    incident: Incident,
    kind: str,
    title: str,
    due_at: datetime,
    actor: User | None = None,
    owner: User | None = None,
    role: IncidentRole | None = None,
    key: str = "",
    notes: str = "",
    statement: Statement | None = None,
    chain_step: ChainStep | None = None,
    remind_before_minutes: int | None = None,
    escalation_grace_minutes: int | None = None,
    policy: ResponsePolicy | None = None,
) -> Deadline:
    """A new open deadline and its reminders (`deadlines_create` for one). A system deadline (`key`) that is
    already open is returned unchanged, so callers may run twice (a retried task, a double click) without
    doubling anything. `policy`: the incident's severity policy, when the caller has already read it."""
    item = NewDeadline(
        title=title,
        due_at=due_at,
        key=key,
        owner=owner,
        role=role,
        notes=notes,
        statement=statement,
        chain_step=chain_step,
        remind_before_minutes=remind_before_minutes,
        escalation_grace_minutes=escalation_grace_minutes,
    )
    return deadlines_create(incident=incident, kind=kind, items=[item], actor=actor, policy=policy)[0]


@transaction.atomic(savepoint=False)
def deadlines_create(
    *,
    incident: Incident,
    kind: str,
    items: Sequence[NewDeadline],
    actor: User | None,
    policy: ResponsePolicy | None = None,
) -> list[Deadline]:
    """New open deadlines with their reminders and nudges, a system deadline (`key`) already open left as it
    is, in a fixed number of queries whatever the number of items: a playbook's checklist and clocks on
    declaring (one at a time, a dozen deadlines made the declare click ~50 queries slower). Returns one
    deadline per item, in order: the one created, or the open one its key already had."""
    keys = {item.key for item in items if item.key}
    by_key: dict[str, Deadline] = (
        {d.key: d for d in Deadline.objects.filter(incident=incident, key__in=keys, state=DeadlineState.OPEN)}
        if keys
        else {}
    )
    fresh: list[NewDeadline] = []
    wanted = set(by_key)
    for item in items:
        if item.key:
            if item.key in wanted:
                continue
            wanted.add(item.key)
        fresh.append(item)
    if not fresh:
        return [by_key[item.key] for item in items]
    policy = policy or policy_for(incident.severity)
    now = timezone.now()
    deadlines = Deadline.objects.bulk_create(
        [
            Deadline(
                incident=incident,
                kind=kind,
                title=item.title.strip()[:200],
                notes=item.notes,
                owner=item.owner,
                role=item.role,
                due_at=item.due_at,
                original_due_at=item.due_at,
                key=item.key,
                statement=item.statement,
                chain_step=item.chain_step,
                remind_before_minutes=(
                    policy.remind_before_minutes
                    if item.remind_before_minutes is None
                    else item.remind_before_minutes
                ),
                escalation_grace_minutes=(
                    policy.escalation_grace_minutes
                    if item.escalation_grace_minutes is None
                    else item.escalation_grace_minutes
                ),
                created_by=actor,
                created_at=now,
                updated_at=now,
            )
            for item in fresh
        ]
    )
    plan_new_reminders(deadlines, now=now)
    nudge(deadlines)
    created = iter(deadlines)
    result = []
    for item in items:
        if not item.key or item.key not in by_key:
            deadline = next(created)
            if item.key:
                by_key[item.key] = deadline
        else:
            deadline = by_key[item.key]
        result.append(deadline)
    return result


def nudge(deadlines: Sequence[Deadline]) -> None:
    """After commit: the room's deadlines panel, and the queues of whoever answers for these deadlines (of
    one incident): their owners and the holders of their roles, in one query whatever their number."""
    people = {d.owner_id for d in deadlines if d.owner_id}
    roles = {d.role_id for d in deadlines if d.role_id}
    if roles:
        people |= set(
            RoleAssignment.objects.current()
            .filter(incident_id=deadlines[0].incident_id, role_id__in=roles)
            .values_list("user_id", flat=True)
        )
    approval = any(d.kind == DeadlineKind.APPROVAL for d in deadlines)
    live.deadline_changed(deadlines[0].incident_id, people, approval=approval)
