"""Deadlines: create, complete, snooze, reschedule — and the reminder rows each version of a deadline owes.

Every change to a deadline's time bumps its `version` and re-plans its reminders in the same transaction:
pending reminders of the old version are cancelled, so nothing ever fires for a time that no longer holds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from incidents.models import (
    ChainStep,
    Deadline,
    DeadlineKind,
    DeadlineState,
    Incident,
    IncidentRole,
    Reminder,
    ReminderKind,
    ReminderState,
    ResponsePolicy,
    Severity,
    Statement,
    User,
)


class DeadlineConflict(Exception):
    """The deadline changed since the person looked at it (stale version) or is no longer open."""

    def __init__(self, message: str, *, current: Deadline) -> None:
        super().__init__(message)
        self.current = current


# Seeded policy (first response, update cadence) in minutes; admins edit ResponsePolicy rows.
DEFAULT_POLICY: dict[str, tuple[int, int]] = {
    Severity.SEV1: (30, 60),
    Severity.SEV2: (60, 120),
    Severity.SEV3: (240, 240),
    Severity.SEV4: (1440, 1440),
}


def ensure_policies() -> None:
    for severity, (first, cadence) in DEFAULT_POLICY.items():
        ResponsePolicy.objects.get_or_create(
            severity=severity, defaults={"first_response_minutes": first, "update_cadence_minutes": cadence}
        )


def policy_for(severity: str) -> ResponsePolicy:
    policy = ResponsePolicy.objects.filter(severity=severity).first()
    if policy is None:  # an admin deleted the row: fall back to the seeded values, never to "no deadline"
        first, cadence = DEFAULT_POLICY[severity]
        policy = ResponsePolicy(
            severity=severity, first_response_minutes=first, update_cadence_minutes=cadence
        )
    return policy


def plan_reminders(deadline: Deadline, *, now: datetime | None = None) -> list[Reminder]:
    """Cancel what older versions still owed and write the reminders this version owes."""
    now = now or timezone.now()
    Reminder.objects.filter(deadline=deadline, state=ReminderState.PENDING).exclude(
        version=deadline.version
    ).update(state=ReminderState.CANCELLED)
    if deadline.state != DeadlineState.OPEN:
        Reminder.objects.filter(deadline=deadline, state=ReminderState.PENDING).update(
            state=ReminderState.CANCELLED
        )
        return []
    grace = timedelta(minutes=deadline.escalation_grace_minutes)
    moments = [(ReminderKind.DUE, deadline.due_at)]
    if deadline.remind_before_minutes:
        before = deadline.due_at - timedelta(minutes=deadline.remind_before_minutes)
        if before > now:  # a deadline set 5 minutes out gets no "due in 10 minutes" message
            moments.insert(0, (ReminderKind.BEFORE, before))
    moments += [
        (ReminderKind.ESCALATE_BACKUP, deadline.due_at + grace),
        (ReminderKind.ESCALATE_COMMANDER, deadline.due_at + 2 * grace),
    ]
    return Reminder.objects.bulk_create(
        [Reminder(deadline=deadline, kind=kind, version=deadline.version, due_at=at) for kind, at in moments],
        ignore_conflicts=True,
    )


@transaction.atomic
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
) -> Deadline:
    """A new open deadline and its reminders. A system deadline (`key`) that is already open is returned
    unchanged, so callers may run twice (a retried task, a double click) without doubling anything."""
    if key:
        existing = Deadline.objects.filter(incident=incident, key=key, state=DeadlineState.OPEN).first()
        if existing is not None:
            return existing
    policy = policy_for(incident.severity)
    deadline = Deadline.objects.create(
        incident=incident,
        kind=kind,
        title=title.strip()[:200],
        notes=notes,
        owner=owner,
        role=role,
        due_at=due_at,
        original_due_at=due_at,
        key=key,
        statement=statement,
        chain_step=chain_step,
        remind_before_minutes=(
            policy.remind_before_minutes if remind_before_minutes is None else remind_before_minutes
        ),
        escalation_grace_minutes=(
            policy.escalation_grace_minutes if escalation_grace_minutes is None else escalation_grace_minutes
        ),
        created_by=actor,
    )
    plan_reminders(deadline)
    return deadline


def _lock(deadline: Deadline, expected_version: int | None) -> Deadline:
    current = Deadline.objects.select_for_update().get(pk=deadline.pk)
    if current.state != DeadlineState.OPEN:
        raise DeadlineConflict(
            f"“{current.title}” is already {current.get_state_display().lower()}.", current=current
        )
    if expected_version is not None and current.version != expected_version:
        raise DeadlineConflict(
            f"“{current.title}” was changed by someone else; here is how it stands now.", current=current
        )
    return current


def _bump(deadline: Deadline, fields: list[str]) -> None:
    deadline.version += 1
    deadline.updated_at = timezone.now()
    deadline.save(update_fields=[*fields, "version", "updated_at"])
    plan_reminders(deadline)


@transaction.atomic
def deadline_complete(
    *, deadline: Deadline, actor: User | None, expected_version: int | None = None
) -> Deadline:
    current = _lock(deadline, expected_version)
    current.state = DeadlineState.DONE
    current.completed_at = timezone.now()
    current.completed_by = actor
    _bump(current, ["state", "completed_at", "completed_by"])
    return current


@transaction.atomic
def deadline_cancel(
    *, deadline: Deadline, actor: User | None, expected_version: int | None = None
) -> Deadline:
    current = _lock(deadline, expected_version)
    current.state = DeadlineState.CANCELLED
    current.completed_by = actor
    current.completed_at = timezone.now()
    _bump(current, ["state", "completed_at", "completed_by"])
    return current


@transaction.atomic
def deadline_reschedule(
    *, deadline: Deadline, actor: User | None, due_at: datetime, expected_version: int | None = None
) -> Deadline:
    """Move the due time. Escalation starts over for the new time; `missed_at` keeps the history."""
    current = _lock(deadline, expected_version)
    current.due_at = due_at
    current.escalation_level = 0
    current.snoozed_until = None
    _bump(current, ["due_at", "escalation_level", "snoozed_until"])
    return current


__all__ = [
    "DeadlineConflict",
    "DeadlineKind",
    "deadline_cancel",
    "deadline_complete",
    "deadline_create",
    "deadline_reschedule",
    "ensure_policies",
    "plan_reminders",
    "policy_for",
]
