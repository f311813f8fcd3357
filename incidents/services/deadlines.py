"""Deadlines: what the team owes by when — the per-severity policy, creating, completing, snoozing and
moving deadlines, and the hooks the lifecycle and statement services call to keep the system deadlines
(first response, next update, approval steps, review) in step with what happened.

Every change to a deadline's time bumps its `version` and re-plans its reminders in the same transaction
(services/reminders.py): pending reminders of the old version are cancelled, so nothing ever fires for a
time that no longer holds. A person acting on a deadline is checked against `rules.may_act_on_deadline`
under the incident's lock. May import models, rules, permissions and the reminders, notify and timeline
services.

Lock order everywhere: incident → deadline → reminders.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from incidents.models import (
    ChainStep,
    Deadline,
    DeadlineKind,
    DeadlineState,
    Incident,
    IncidentRole,
    ResponsePolicy,
    RoleAssignment,
    Statement,
    Status,
    User,
)
from incidents.models.errors import InputRefused, Refused
from incidents.permissions import incident_perms
from incidents.rules import may_act_on_deadline, may_manage_deadlines
from incidents.services.checklist import DEFAULT_POLICY, nudge
from incidents.services.checklist import deadline_create as deadline_create  # re-exported
from incidents.services.checklist import policy_for as policy_for  # re-exported
from incidents.services.reminders import in_minutes, plan_reminders, record_entry, responsible
from incidents.services.timeline import organisation_language
from incidents.timetext import stamp


class DeadlineConflict(Refused):
    """The deadline changed since the person looked at it (stale version) or is no longer open."""

    def __init__(self, message: str, *, current: Deadline) -> None:
        super().__init__(message)
        self.current = current


class DeadlineError(InputRefused, ValueError):
    """The request makes no sense (no reason for a snooze, a time in the past); nothing was changed."""


# Who answers for the public-response deadlines when nobody is named: the holder of this role, else the
# commander ("owns messaging … and the update cadence" in the seeded catalogue).
COMMS_ROLE_SLUG = "comms-lead"
MAX_SNOOZE_MINUTES = 24 * 60
MAX_AHEAD = timedelta(days=180)


def ensure_policies(model: Any = None) -> None:
    """Seed the per-severity policy where a row is missing (post_migrate; admin edits are never overwritten).
    `model`: the migration registry's ResponsePolicy when called from post_migrate."""
    for severity, (first, cadence) in DEFAULT_POLICY.items():
        (model or ResponsePolicy).objects.get_or_create(
            severity=severity, defaults={"first_response_minutes": first, "update_cadence_minutes": cadence}
        )


@transaction.atomic
def task_add(
    *, incident: Incident, actor: User, title: str, owner: User, due_at: datetime, notes: str = ""
) -> Deadline:
    """A checklist item added by hand in the room: a deadline for one person, announced on the timeline
    (which also refreshes everyone's deadline panel). Needs `rules.may_manage_deadlines`, now."""
    _check_due(due_at, timezone.now())
    Incident.objects.select_for_update().only("pk").get(pk=incident.pk)  # team changes wait, and vice versa
    may_manage_deadlines.check(perms=incident_perms(actor, incident))
    task = deadline_create(
        incident=incident,
        kind=DeadlineKind.TASK,
        title=title,
        due_at=due_at,
        owner=owner,
        notes=notes,
        actor=actor,
    )
    with organisation_language():  # stored once, read by everyone
        text = _("%(actor)s added a task for %(owner)s: “%(title)s”, due %(due)s.") % {
            "actor": actor,
            "owner": owner,
            "title": task.title,
            "due": stamp(due_at),
        }
        record_entry(task, actor, text)
    return task


def _lock(deadline: Deadline, expected_version: int | None, *, person: User | None = None) -> Deadline:
    """Lock the incident, then the deadline; refuse a stale or closed one. `person`: someone acting on it
    themselves, checked against the rule now that their roles cannot change (team changes lock the
    incident too). None: the system, or a change whose own rule allowed it."""
    # Incident first: publishing a statement holds the incident and then completes deadlines.
    Incident.objects.select_for_update().only("pk").get(pk=deadline.incident_id)
    current = Deadline.objects.select_for_update().select_related("incident").get(pk=deadline.pk)
    if person is not None:
        may_act_on_deadline.check(
            actor=person,
            perms=incident_perms(person, current.incident),
            responsible=responsible(current, backups=False).people,
        )
    if current.state != DeadlineState.OPEN:
        raise DeadlineConflict(
            _("“%(title)s” is already %(state)s.")
            % {"title": current.title, "state": current.get_state_display().lower()},
            current=current,
        )
    if expected_version is not None and current.version != expected_version:
        raise DeadlineConflict(
            _("“%(title)s” was changed by someone else; here is how it stands now.")
            % {"title": current.title},
            current=current,
        )
    return current


def _bump(deadline: Deadline, fields: list[str]) -> None:
    deadline.version += 1
    deadline.updated_at = timezone.now()
    deadline.save(update_fields=[*fields, "version", "updated_at"])
    plan_reminders(deadline)
    nudge([deadline])


@transaction.atomic
def deadline_complete(
    *, deadline: Deadline, actor: User | None, expected_version: int | None = None
) -> Deadline:
    """Done, by `actor` (who must be allowed to: `rules.may_act_on_deadline`; None: the system)."""
    return _complete_one(deadline, actor, expected_version, person=actor)


@transaction.atomic
def deadline_met(*, deadline: Deadline, actor: User, record: bool = True) -> Deadline:
    """Done as the consequence of another change whose own rule allowed it (a follow-up action completed by
    the team, a review signed off by the commander, a loud author answered): the deadline rule is not asked
    again. `record=False` when the change's own timeline entry already says it."""
    return _complete_one(deadline, actor, record=record)


@transaction.atomic
def deadline_void(*, deadline: Deadline, actor: User) -> Deadline:
    """Cancelled as the consequence of another change that made it pointless (what it waited for is gone);
    that change's own rule allowed it."""
    return _cancel_one(deadline, actor)


def _complete_one(
    deadline: Deadline,
    actor: User | None,
    expected_version: int | None = None,
    *,
    record: bool = True,
    locked: bool = False,
    person: User | None = None,
) -> Deadline:
    """`locked`: the caller holds the incident and read this open deadline FOR UPDATE itself."""
    current = deadline if locked else _lock(deadline, expected_version, person=person)
    now = timezone.now()
    current.state = DeadlineState.DONE
    current.completed_at = now
    current.completed_by = actor
    _bump(current, ["state", "completed_at", "completed_by"])
    if actor is not None and record:
        with organisation_language():  # stored once, read by everyone
            values = {"title": current.title, "actor": actor, "late": in_minutes(now - current.due_at)}
            text = (
                _("“%(title)s” done (%(late)s late), by %(actor)s.") % values
                if now > current.due_at
                else _("“%(title)s” done (on time), by %(actor)s.") % values
            )
            record_entry(current, actor, text)
    return current


def _cancel_one(deadline: Deadline, actor: User | None) -> Deadline:
    current = _lock(deadline, None)
    current.state = DeadlineState.CANCELLED
    current.completed_by = actor
    current.completed_at = timezone.now()
    _bump(current, ["state", "completed_at", "completed_by"])
    return current


def _check_due(due_at: datetime, now: datetime) -> None:
    if timezone.is_naive(due_at):
        raise DeadlineError(_("Give the time with its time zone."))
    if due_at <= now:
        raise DeadlineError(_("Choose a time in the future."))
    if due_at > now + MAX_AHEAD:
        raise DeadlineError(_("Choose a time within the next six months."))


@transaction.atomic
def deadline_reschedule(
    *, deadline: Deadline, actor: User | None, due_at: datetime, expected_version: int | None = None
) -> Deadline:
    """Move the due time. Escalation starts over for the new time; `missed_at` keeps the history. `actor`
    must be allowed to (`rules.may_act_on_deadline`; None: the system)."""
    _check_due(due_at, timezone.now())
    current = _lock(deadline, expected_version, person=actor)
    was = current.due_at
    current.due_at = due_at
    current.escalation_level = 0
    current.snoozed_until = None
    _bump(current, ["due_at", "escalation_level", "snoozed_until"])
    if actor is not None:
        with organisation_language():  # stored once, read by everyone
            text = _("%(actor)s moved “%(title)s” from %(was)s to %(due)s.") % {
                "actor": actor,
                "title": current.title,
                "was": stamp(was),
                "due": stamp(due_at),
            }
            record_entry(current, actor, text)
    return current


@transaction.atomic
def deadline_snooze(
    *, deadline: Deadline, actor: User | None, minutes: int, reason: str, expected_version: int | None = None
) -> Deadline:
    """Push the deadline back by `minutes` from its due time (or from now, if it is already overdue), with
    a reason that goes on the timeline. Reminders for the old time are void. `actor` must be allowed to
    (`rules.may_act_on_deadline`; None: the system)."""
    reason = " ".join(reason.split())
    if not reason:
        raise DeadlineError(_("Say why you are snoozing it; the reason goes on the timeline."))
    if len(reason) > 300:
        raise DeadlineError(_("Keep the reason under 300 characters."))
    if not 1 <= minutes <= MAX_SNOOZE_MINUTES:
        raise DeadlineError(_("Snooze for between 1 minute and 24 hours."))
    current = _lock(deadline, expected_version, person=actor)
    now = timezone.now()
    current.due_at = max(current.due_at, now) + timedelta(minutes=minutes)
    current.snoozed_until = current.due_at
    current.escalation_level = 0
    _bump(current, ["due_at", "snoozed_until", "escalation_level"])
    with organisation_language():  # stored once, read by everyone
        values = {
            "actor": actor or _("The system"),
            "title": current.title,
            "minutes": minutes,
            "due": stamp(current.due_at),
            "reason": reason,
        }
        text = (
            ngettext(
                "%(actor)s snoozed “%(title)s” by %(minutes)s min, now due %(due)s: “%(reason)s”",
                "%(actor)s snoozed “%(title)s” by %(minutes)s min, now due %(due)s: “%(reason)s”",
                minutes,
            )
            % values
        )
        record_entry(current, actor, text)
    return current


# --- system deadlines (lifecycle and statement hooks) ---------------------------------------------------------


def _comms_role() -> IncidentRole | None:
    return IncidentRole.objects.filter(slug=COMMS_ROLE_SLUG).first()


def on_declared(incident: Incident, actor: User) -> Deadline:
    policy = policy_for(incident.severity)
    with organisation_language():  # a system deadline's title is stored once and read by everyone
        title = _("First public response")
    return deadline_create(
        incident=incident,
        kind=DeadlineKind.FIRST_RESPONSE,
        key="first_response",
        title=title,
        due_at=incident.declared_at + incident.scaled(timedelta(minutes=policy.first_response_minutes)),
        role=_comms_role(),
        actor=actor,
    )


def on_severity_changed(incident: Incident) -> None:
    """A still policy-derived first-response deadline follows the new severity's SLA (never one a person
    moved or snoozed: their decision stands)."""
    deadline = Deadline.objects.open().filter(incident=incident, key="first_response").first()
    if deadline is None or deadline.due_at != deadline.original_due_at:
        return
    policy = policy_for(incident.severity)
    due = incident.declared_at + incident.scaled(timedelta(minutes=policy.first_response_minutes))
    if due == deadline.due_at:
        return
    current = _lock(deadline, None)
    current.due_at = current.original_due_at = due
    current.escalation_level = 0
    _bump(current, ["due_at", "original_due_at", "escalation_level"])


@transaction.atomic
def deadline_rebase(*, deadline: Deadline, due_at: datetime) -> Deadline:
    """A deadline derived from a fact that changed (a regulatory clock counted from the time the organisation
    became aware) follows it: due and original due time move together, reminders are planned again.
    A time in the past is allowed: the deadline is then simply overdue. The caller's own rule allowed it."""
    current = _lock(deadline, None)
    if current.due_at == due_at:
        return current
    current.due_at = current.original_due_at = due_at
    current.escalation_level = 0
    current.snoozed_until = None
    _bump(current, ["due_at", "original_due_at", "escalation_level", "snoozed_until"])
    return current


def deadlines_shift(*, incident: Incident, by: timedelta) -> int:
    """Move every open deadline of `incident` on by `by` (a drill resumed after a pause: what was still
    pending is due as much later as the pause lasted). Due and original due time move together — nobody
    moved the deadline, time stood still — and the reminders are planned again. The caller holds the
    incident's lock and its own rule allowed it. Returns how many moved."""
    moved = 0
    for current in Deadline.objects.open().filter(incident=incident).select_for_update().order_by("pk"):
        current.incident = incident
        current.due_at += by
        current.original_due_at += by
        if current.snoozed_until is not None:
            current.snoozed_until += by
        _bump(current, ["due_at", "original_due_at", "snoozed_until"])
        moved += 1
    return moved


# Deadlines that belong to the live response and end with it; reviews and follow-ups outlive closure.
RESPONSE_KINDS = (DeadlineKind.FIRST_RESPONSE, DeadlineKind.UPDATE, DeadlineKind.APPROVAL, DeadlineKind.TASK)


def on_status_changed(incident: Incident, actor: User, old_status: str) -> None:
    now = timezone.now()
    if incident.status == Status.RESOLVED:
        _cancel(Deadline.objects.open().filter(incident=incident, kind=DeadlineKind.UPDATE), actor)
        policy = policy_for(incident.severity)
        with organisation_language():  # stored once, read by everyone
            title = _("Post-incident review")
        deadline_create(
            incident=incident,
            kind=DeadlineKind.REVIEW,
            key="review",
            title=title,
            due_at=now + timedelta(days=policy.review_due_days),
            actor=actor,
        )
    elif incident.status == Status.CLOSED:
        _cancel(Deadline.objects.open().filter(incident=incident, kind__in=RESPONSE_KINDS), actor)
    elif old_status == Status.RESOLVED:  # reopened: the review waits for the next resolution
        _cancel(Deadline.objects.open().filter(incident=incident, key="review"), actor)


# The hooks below run inside the change that triggers them (a statement, a status change) and fail with it:
# no savepoint per deadline (two round trips each).


def _cancel(deadlines: Iterable[Deadline], actor: User | None) -> None:
    for deadline in list(deadlines):
        _cancel_one(deadline, actor)


def _complete(deadlines: Iterable[Deadline], actor: User | None, *, record: bool = True) -> None:
    for deadline in list(deadlines):
        _complete_one(deadline, actor, record=record)


def on_published(
    incident: Incident, actor: User, published_at: datetime, next_update_at: datetime | None = None
) -> Deadline | None:
    """A public statement went out: the first response (or the due update) is met, and while the incident is
    open the next update is due — at the time the statement promised, else after the cadence.

    The publishing transaction already holds the incident, so the met deadlines are locked as they are read
    (no second trip to lock the incident and re-read each one)."""
    met = Deadline.objects.open().filter(incident=incident, key__in=["first_response", "update"])
    for deadline in met.select_for_update():
        deadline.incident = incident
        _complete_one(deadline, actor, locked=True)
    if not incident.is_open:
        return None
    policy = policy_for(incident.severity)
    with organisation_language():  # stored once, read by everyone
        if next_update_at is not None:
            # The time itself is the deadline's due time, which every page shows in its viewer's zone.
            due, title = next_update_at, _("Next public update (as promised)")
        else:
            cadence = incident.scaled(timedelta(minutes=policy.update_cadence_minutes))
            due, title = published_at + cadence, _("Next public update")
    return deadline_create(
        incident=incident,
        kind=DeadlineKind.UPDATE,
        key="update",
        title=title,
        due_at=due,
        role=_comms_role(),
        actor=actor,
        policy=policy,
    )


def on_step_activated(statement: Statement, step: ChainStep, total: int) -> Deadline | None:
    """The chain step became current: its approvers owe a decision within the step's SLA (if it has one),
    scaled for a compressed drill; the step keeps the time (its backups may decide once it has passed)."""
    if step.activated_at is None or step.sla_minutes is None:
        return None
    incident = statement.incident
    due = step.activated_at + incident.scaled(timedelta(minutes=step.sla_minutes))
    step.sla_due_at = due
    ChainStep.objects.filter(pk=step.pk).update(sla_due_at=due)
    with organisation_language():  # stored once, read by everyone
        title = _("Approve “%(title)s” — step %(order)s of %(total)s (%(name)s)") % {
            "title": statement.title[:120],
            "order": step.order,
            "total": total,
            "name": step.name,
        }
    return deadline_create(
        incident=statement.incident,
        kind=DeadlineKind.APPROVAL,
        key=f"approval:{step.pk}",
        title=title,
        due_at=due,
        role=step.role,
        statement=statement,
        chain_step=step,
    )


def on_step_decided(step: ChainStep, actor: User | None) -> None:
    _complete(Deadline.objects.open().filter(chain_step=step), actor, record=False)


def on_chain_void(statement: Statement, actor: User | None) -> None:
    """A new version or a withdrawal voided the chain: nobody owes a decision on the old one any more."""
    _cancel(
        Deadline.objects.open().filter(statement=statement, kind=DeadlineKind.APPROVAL),
        actor,
    )


def my_due(user: User, *, limit: int = 20) -> list[Deadline]:
    """Open deadlines I answer for: named on them, or holding their role, or — when nobody is named and
    nobody holds the role — commanding the incident."""
    holders = RoleAssignment.objects.current().filter(incident=OuterRef("incident"), role=OuterRef("role"))
    return list(
        Deadline.objects.open()
        .exclude(incident__status=Status.CLOSED)
        .filter(
            Q(owner=user)
            | (Q(owner__isnull=True, role__isnull=False) & Exists(holders.filter(user=user)))
            | (Q(owner__isnull=True, incident__commander=user) & (Q(role__isnull=True) | ~Exists(holders)))
        )
        .select_related("incident")
        .order_by("due_at")[:limit]
    )


__all__ = [
    "DeadlineConflict",
    "DeadlineError",
    "deadline_complete",
    "deadline_create",
    "deadline_met",
    "deadline_rebase",
    "deadline_reschedule",
    "deadline_snooze",
    "deadlines_shift",
    "ensure_policies",
    "my_due",
    "on_chain_void",
    "on_declared",
    "on_published",
    "on_severity_changed",
    "on_status_changed",
    "on_step_activated",
    "on_step_decided",
    "policy_for",
    "task_add",
]
