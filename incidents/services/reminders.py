"""Reminders: the rows each version of a deadline owes (before due, at due, two escalations), who they go
to, and firing them — the beat sweep and the precise Celery ETA tasks, defined here beside the code they run.

Firing (performance-anchors §2.3): PostgreSQL rows are the truth, Redis and Celery only deliver.
- `sweep_reminders` (beat, every few seconds) claims due rows with SKIP LOCKED and writes their effect —
  notifications, the timeline entry, outbox e-mails and webhook rows — in the same transaction as
  `state = sent`. A dead worker or a Redis outage delays a reminder by at most one sweep; never loses it.
- For precision it also hands reminders due within a couple of minutes to Celery ETA tasks carrying
  (id, version). The task claims with a conditional UPDATE; a stale version or an already-sent row is a
  no-op, so nothing is ever revoked and nothing fires twice.

Lock order everywhere: incident → deadline → reminders. Firing never waits for a lock (SKIP LOCKED on all
three), so it cannot deadlock with a publish or a snooze that holds the incident.

May import models and the notify and timeline services; the deadline changes (services/deadlines.py) build
on this module, never the reverse. The tasks keep their registered names ("incidents.tasks.…"): the beat
schedule and messages already queued name them so.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from celery import Task, shared_task
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from incidents import live
from incidents.models import (
    Deadline,
    DeadlineKind,
    DeadlineState,
    FiredBy,
    Incident,
    Reminder,
    ReminderKind,
    ReminderState,
    RoleAssignment,
    Status,
    TimelineEntry,
    User,
)
from incidents.services.notify import in_language_of, notify, webhook_enqueue
from incidents.services.timeline import organisation_language, timeline_record
from incidents.timetext import stamp

log = logging.getLogger(__name__)

MAX_FIRE_ATTEMPTS = 5


def in_minutes(delta: timedelta) -> str:
    total = max(int(delta.total_seconds() // 60), 0)
    if total < 60:
        return _("%(minutes)s min") % {"minutes": total}
    hours, mins = divmod(total, 60)
    if mins:
        return _("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": mins}
    return _("%(hours)s h") % {"hours": hours}


def record_entry(deadline: Deadline, actor: User | None, text: str) -> None:
    """A reminder-kind timeline entry about `deadline` (it also refreshes everyone's deadline panel)."""
    timeline_record(incident=deadline.incident, kind=TimelineEntry.Kind.REMINDER, actor=actor, text=text)


def _setting(name: str, default: float) -> float:
    """Tuning knobs from settings (which read the environment; tests override them)."""
    value = getattr(settings, name, None)
    return default if value is None else float(value)


def eta_horizon() -> timedelta:
    """Reminders due within this get a Celery ETA task; never more than a few minutes (Redis redelivers
    unacknowledged ETA tasks after the visibility timeout — performance-anchors §2.1)."""
    return timedelta(seconds=min(_setting("REMINDER_ETA_HORIZON_SECONDS", 120), 300))


def sweep_interval() -> float:
    return _setting("REMINDER_SWEEP_SECONDS", 5)


# --- planning -------------------------------------------------------------------------------------------------


def plan_reminders(deadline: Deadline, *, now: datetime | None = None, fresh: bool = False) -> list[Reminder]:
    """Cancel what older versions still owed and write the reminders this version owes. `fresh`: the
    deadline was created just now, so there is nothing older to cancel or already planned to skip."""
    now = now or timezone.now()
    pending = Reminder.objects.filter(deadline=deadline, state=ReminderState.PENDING)
    if deadline.state != DeadlineState.OPEN:
        pending.update(state=ReminderState.CANCELLED)  # done or cancelled: nothing is owed any more
        return []
    if not fresh:
        pending.exclude(version=deadline.version).update(state=ReminderState.CANCELLED)
    # Planned once per version (a second call for the same version adds nothing).
    planned = (
        set()
        if fresh
        else set(
            Reminder.objects.filter(deadline=deadline, version=deadline.version).values_list(
                "kind", flat=True
            )
        )
    )
    return _write([(deadline, kind, at) for kind, at in _owed(deadline, now) if kind not in planned], now=now)


def plan_new_reminders(deadlines: Sequence[Deadline], *, now: datetime | None = None) -> list[Reminder]:
    """`plan_reminders(fresh=True)` for many open deadlines created just now (a playbook's checklist on
    declaring), in one insert."""
    now = now or timezone.now()
    return _write([(d, kind, at) for d in deadlines for kind, at in _owed(d, now)], now=now)


def _owed(deadline: Deadline, now: datetime) -> list[tuple[str, datetime]]:
    """The reminders an open deadline's current version owes: (kind, when)."""
    # A compressed drill's reminders and escalations come as much sooner as its deadlines do.
    incident = deadline.incident
    grace = incident.scaled(timedelta(minutes=deadline.escalation_grace_minutes))
    moments = [(ReminderKind.DUE, deadline.due_at)]
    if deadline.remind_before_minutes:
        before = deadline.due_at - incident.scaled(timedelta(minutes=deadline.remind_before_minutes))
        if before > now:  # a deadline set 5 minutes out gets no "due in 10 minutes" message
            moments.insert(0, (ReminderKind.BEFORE, before))
    return [
        *moments,
        (ReminderKind.ESCALATE_BACKUP, deadline.due_at + grace),
        (ReminderKind.ESCALATE_COMMANDER, deadline.due_at + 2 * grace),
    ]


def _write(rows: list[tuple[Deadline, str, datetime]], *, now: datetime) -> list[Reminder]:
    horizon = now + eta_horizon()
    reminders = Reminder.objects.bulk_create(
        [
            Reminder(
                deadline=deadline,
                kind=kind,
                version=deadline.version,
                due_at=at,
                # Due soon: handed to an ETA task right after commit (below), not at the next sweep.
                enqueued_at=now if at <= horizon else None,
            )
            for deadline, kind, at in rows
        ]
    )
    soon = [(r.pk, r.version, r.due_at) for r in reminders if r.enqueued_at is not None and r.pk]
    if soon:
        transaction.on_commit(lambda: enqueue_etas(soon, handed=now))
    return reminders


# --- who answers for a deadline -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Responsible:
    people: list[User]
    backups: list[User]
    commander: User | None

    @property
    def names(self) -> str:
        return ", ".join(str(p) for p in self.people) or _("nobody")


def responsible(
    deadline: Deadline, assignments: Sequence[RoleAssignment] | None = None, *, backups: bool = True
) -> Responsible:
    """The named owner, else the current holders of the deadline's role, else the commander; and the
    backups named on those people's assignments in this incident.

    A named owner, when their backups are not wanted (`backups=False`), costs no query: firing a reminder
    for someone's task reads only the rows it already holds (the commander is the incident's own column,
    kept in step by the handover service)."""
    incident = deadline.incident
    if deadline.owner_id is not None and deadline.owner is not None and not backups and assignments is None:
        return Responsible(people=[deadline.owner], backups=[], commander=incident.commander)
    if assignments is None:
        assignments = list(
            RoleAssignment.objects.current().filter(incident=incident).select_related("user", "backup")
        )
    commander = next((a.user for a in assignments if a.is_command), None) or incident.commander
    if deadline.owner_id is not None and deadline.owner is not None:
        people = [deadline.owner]
    else:
        people = list(
            {
                a.user_id: a.user for a in assignments if deadline.role_id and a.role_id == deadline.role_id
            }.values()
        )
        if not people and commander is not None:
            people = [commander]
    ids = {p.pk for p in people}
    named = [
        a.backup
        for a in assignments
        if a.user_id in ids
        and a.backup is not None
        and a.backup_id not in ids
        and (deadline.role_id is None or deadline.owner_id is not None or a.role_id == deadline.role_id)
    ]
    return Responsible(people=people, backups=list({b.pk: b for b in named}.values()), commander=commander)


# --- firing ---------------------------------------------------------------------------------------------------


def _claimable() -> Q:
    # A paused drill owes nothing until it resumes (resuming moves its deadlines and plans them again).
    return Q(state=ReminderState.PENDING) & Q(deadline__incident__drill_paused_at__isnull=True)


def _claim_query(now: datetime) -> object:
    return (
        Reminder.objects.select_for_update(skip_locked=True, of=("self", "deadline", "deadline__incident"))
        .select_related("deadline", "deadline__incident", "deadline__incident__commander", "deadline__owner")
        .filter(_claimable(), due_at__lte=now)
    )


def _message(
    reminder: Reminder, deadline: Deadline, who: Responsible, now: datetime
) -> tuple[str, list[User]]:
    """The reminder's words in the active language (the caller picks it: the recipient's, or the
    organisation's for the shared timeline entry)."""
    values = {
        "ref": deadline.incident.reference,
        # Translators: a deadline named inside a sentence; use your language's quotation marks.
        "title": _("“%(title)s”") % {"title": deadline.title},
        "late": in_minutes(now - deadline.due_at),
        "names": who.names,
        "due": stamp(deadline.due_at),
    }
    match reminder.kind:
        case ReminderKind.BEFORE:
            values["left"] = in_minutes(deadline.due_at - now) if deadline.due_at > now else _("moments")
            return _("%(ref)s: %(title)s is due at %(due)s (in %(left)s) — %(names)s.") % values, who.people
        case ReminderKind.DUE:
            return _("%(ref)s: %(title)s is overdue (was due %(due)s) — %(names)s.") % values, who.people
        case ReminderKind.ESCALATE_BACKUP:
            if who.backups:
                # An approval step past its SLA is the backup's to decide now, not only to chase.
                if deadline.kind == DeadlineKind.APPROVAL:
                    text = _(
                        "%(ref)s: escalated to you as backup for %(names)s: %(title)s is %(late)s overdue. "
                        "As their backup you may decide it now, standing in for them."
                    )
                else:
                    text = _(
                        "%(ref)s: escalated to you as backup for %(names)s: %(title)s is %(late)s overdue."
                    )
                return text % values, who.backups
            commander = [who.commander] if who.commander else []
            text = _(
                "%(ref)s: escalated to you as commander (%(names)s has no backup): %(title)s is %(late)s overdue."
            )
            return text % values, commander
        case _:
            commander = [who.commander] if who.commander else []
            text = ngettext(
                "%(ref)s: escalated to you as commander: %(title)s is %(late)s overdue; %(names)s has not responded.",
                "%(ref)s: escalated to you as commander: %(title)s is %(late)s overdue; %(names)s have not responded.",
                len(who.people),
            )
            return text % values, commander


def _fire(reminder: Reminder, now: datetime, by: FiredBy) -> bool:
    """Record one claimed reminder's effect (caller holds the locks). False when it turned out stale."""
    deadline = reminder.deadline
    incident = deadline.incident
    if (
        deadline.state != DeadlineState.OPEN
        or reminder.version != deadline.version
        or incident.status == Status.CLOSED
    ):
        Reminder.objects.filter(pk=reminder.pk).update(state=ReminderState.CANCELLED, claimed_at=now)
        return False
    who = responsible(deadline, backups=reminder.kind == ReminderKind.ESCALATE_BACKUP)
    # The timeline entry and the webhook speak the organisation's language; each person's notification
    # and e-mail their own (below).
    with organisation_language():
        text, recipients = _message(reminder, deadline, who, now)
        record_entry(deadline, None, text.removeprefix(f"{incident.reference}: "))
        # A restricted incident's title stays in the room; the channel hears only that something is due.
        public = (
            text
            if not incident.is_restricted
            else _("%(ref)s (restricted): a deadline needs attention — %(kind)s. Details in the war room.")
            % {"ref": incident.reference, "kind": ReminderKind(reminder.kind).label.lower()}
        )
    if incident.is_restricted:
        # A restricted incident is the team's alone: a backup or a former owner who is not on the team now
        # is not told (the title would leak); the commander is, instead.
        team = set(
            RoleAssignment.objects.current().filter(incident=incident).values_list("user_id", flat=True)
        )
        recipients = [u for u in recipients if u.pk in team] or (
            [who.commander] if who.commander is not None else []
        )
    url = f"{incident.room_url}#deadline-{deadline.pk}"
    for user in {u.pk: u for u in recipients}.values():
        with in_language_of(user):
            theirs, _people = _message(reminder, deadline, who, now)
            notify(
                user=user, incident=incident, text=theirs, url=url, key=f"reminder:{reminder.pk}:{user.pk}"
            )
    webhook_enqueue(
        key=f"reminder:{reminder.pk}",
        text=("[DRILL] " if incident.is_drill else "") + public,
        data={
            "incident": incident.reference,
            "kind": reminder.kind,
            "deadline_kind": deadline.kind,
            "due_at": deadline.due_at.isoformat(),
            "drill": incident.is_drill,
            "url": f"{settings.SITE_URL.rstrip('/')}{url}",
        },
    )
    fields = ["escalation_level"]
    level = {ReminderKind.ESCALATE_BACKUP: 1, ReminderKind.ESCALATE_COMMANDER: 2}.get(
        ReminderKind(reminder.kind), 0
    )
    deadline.escalation_level = max(deadline.escalation_level, level)
    if reminder.kind == ReminderKind.DUE and deadline.missed_at is None:
        deadline.missed_at = now
        fields.append("missed_at")
    Deadline.objects.filter(pk=deadline.pk).update(**{f: getattr(deadline, f) for f in fields})
    # Escalated or missed: the room's deadlines panel, and the due lists of the people told about it.
    live.deadline_changed(deadline.incident_id, {u.pk for u in recipients})
    Reminder.objects.filter(pk=reminder.pk).update(
        state=ReminderState.SENT, claimed_at=reminder.claimed_at or now, sent_at=timezone.now(), fired_by=by
    )
    return True


@dataclass
class SweepResult:
    fired: int = 0
    stale: int = 0
    enqueued: int = 0
    failed: int = 0
    more: bool = False  # stopped at its budget or hand-over limit with work left: run another sweep now


# Seconds of firing per sweep task. Short, so that a worker is never busy with a sweep for long: the ETA tasks
# waiting on that worker would fall late, and then into the sweep too (the feedback loop seen in `make bench`
# after a worker restart). A sweep with work left asks for another straight away (sweep_reminders_task), so a
# backlog still drains at full speed, in slices.
SWEEP_BUDGET_SECONDS = 1.0


def sweep_reminders(
    *, now: datetime | None = None, limit: int = 5000, budget: float | None = None, enqueue: bool = True
) -> SweepResult:
    """Fire every due pending reminder, then hand those due within the ETA horizon to Celery.

    Each reminder is claimed (SKIP LOCKED, with its deadline and incident) and fired in its own short
    transaction: its effect and `state = sent` commit together, and no incident stays locked for longer than
    one reminder takes — an ETA task or a person posting in that room never waits behind a whole batch.
    Reminders already handed to an ETA task get a short head start so the precise path usually wins; if
    that task was lost, the sweep fires them anyway. `budget`: seconds of firing before it returns (default
    SWEEP_BUDGET_SECONDS); `result.more` says whether it stopped with work left.
    """
    result = SweepResult()
    head_start = timedelta(seconds=_setting("REMINDER_ETA_HEAD_START_SECONDS", 2))
    stop_at = time.monotonic() + (min(SWEEP_BUDGET_SECONDS, sweep_interval()) if budget is None else budget)
    for _attempt in range(limit):
        if now is None and time.monotonic() > stop_at:
            result.more = True
            break
        now_ = now or timezone.now()
        reminder: Reminder | None = None
        try:
            with transaction.atomic():
                reminder = (
                    _claim_query(now_)  # type: ignore[attr-defined]
                    .filter(Q(enqueued_at__isnull=True) | Q(due_at__lte=now_ - head_start))
                    .order_by("due_at", "pk")
                    .first()
                )
                if reminder is None:
                    break
                if _fire(reminder, now_, FiredBy.SWEEP):
                    result.fired += 1
                else:
                    result.stale += 1
        except Exception:
            # One broken reminder must not hold back the rest: count the attempt, give up on it after a few.
            log.exception("Reminder %s could not be fired.", reminder.pk if reminder else "?")
            result.failed += 1
            if reminder is not None:
                Reminder.objects.filter(pk=reminder.pk).update(attempts=F("attempts") + 1)
                if reminder.attempts + 1 >= MAX_FIRE_ATTEMPTS:
                    Reminder.objects.filter(pk=reminder.pk).update(state=ReminderState.CANCELLED)
                    log.error(
                        "Reminder %s cancelled after %s failed attempts.", reminder.pk, MAX_FIRE_ATTEMPTS
                    )
    if enqueue:
        result.enqueued = enqueue_due_soon()
    return result


def reset_hand_overs() -> int:
    """A worker (re)connected to the broker: the ETA tasks it held in memory are gone (SIGKILL, a Redis
    restart drops them with the connection). Forget every hand-over so the next sweep makes them again — a
    duplicate ETA task for a reminder a healthy worker still holds is a no-op (conditional claim)."""
    return Reminder.objects.filter(state=ReminderState.PENDING, enqueued_at__isnull=False).update(
        enqueued_at=None
    )


def enqueue_due_soon(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Give reminders due within the horizon a Celery ETA task (once: `enqueued_at` marks it)."""
    now = now or timezone.now()
    with transaction.atomic():
        rows = list(
            Reminder.objects.select_for_update(skip_locked=True)
            .filter(state=ReminderState.PENDING, enqueued_at__isnull=True, due_at__lte=now + eta_horizon())
            .order_by("due_at")
            .values_list("pk", "version", "due_at")[:limit]
        )
        if rows:
            Reminder.objects.filter(pk__in=[r[0] for r in rows]).update(enqueued_at=now)
    return enqueue_etas(rows, handed=now)


def enqueue_etas(rows: Sequence[tuple[int, int, datetime]], *, handed: datetime) -> int:
    """Publish the ETA tasks, each carrying the hand-over it belongs to (`handed`, the `enqueued_at` just
    written). With Redis down the first failure stops the loop and the rest are unmarked: the sweep fires
    them (a little later) and the next sweep retries the hand-over."""
    done = 0
    for pk, version, due in rows:
        try:
            fire_reminder_task.apply_async((pk, version, handed.isoformat()), eta=due, retry=False)
        except Exception:  # kombu OperationalError and friends: Redis is down
            log.warning("Redis unavailable; reminders will be fired by the sweep.")
            # A pooled connection that broke during an outage can fail every later publish (kombu raises
            # AttributeError on a closed transport): drop the pool so the next publish reconnects.
            with contextlib.suppress(Exception):
                fire_reminder_task.app.pool.force_close_all()  # type: ignore[attr-defined]
            Reminder.objects.filter(pk__in=[r[0] for r in rows[done:]], state=ReminderState.PENDING).update(
                enqueued_at=None
            )
            break
        done += 1
    return done


BUSY = "busy"
_WAIT_FOR_ROOM = f"""
    SET LOCAL lock_timeout = '200ms';
    SELECT i.id FROM {Incident._meta.db_table} i
      JOIN {Deadline._meta.db_table} d ON d.incident_id = i.id
      JOIN {Reminder._meta.db_table} r ON r.deadline_id = d.id
     WHERE r.id = %s AND r.version = %s AND r.state = %s
       AND (%s::timestamptz IS NULL OR r.enqueued_at = %s::timestamptz)
       FOR UPDATE OF i;
    SET LOCAL lock_timeout = DEFAULT
"""


def fire_reminder(*, reminder_id: int, version: int, handed: str | None = None, tries: int = 3) -> bool | str:
    """The ETA task's body: claim exactly (id, version) if it is still pending and due, and fire it.

    Returns True when it fired; False when there was nothing to do: already sent (by the sweep or an earlier
    delivery of this task), cancelled, of an older version of its deadline, or handed over again since
    (`handed` is not its `enqueued_at` any more: a newer ETA task or the sweep owns it). BUSY when its rows
    are locked right now (someone holds the incident): the task tries again shortly, and the sweep is there
    if it never gets through.
    """
    for attempt in range(tries):
        now = timezone.now()
        with transaction.atomic():
            # Wait our turn on the incident (a person posting, another reminder of the same room: each holds
            # it for milliseconds) instead of skipping it and coming back later — but never for long: behind
            # anything slower the task steps aside (BUSY) and the sweep is there. Incident first, then the
            # deadline: the order every other writer uses. One round trip: the lock between two SET LOCALs.
            # A task that is no longer the reminder's (stale version, fired, handed over again after a worker
            # restart) finds no row and waits for nothing: after a restart every reminder of the next minutes
            # has two tasks, and the loser would otherwise hold a pool process while the winner fires.
            try:
                with connection.cursor() as cursor:
                    cursor.execute(
                        _WAIT_FOR_ROOM, [reminder_id, version, ReminderState.PENDING, handed, handed]
                    )
                    cursor.nextset()  # the SELECT's rows (the first result is the SET)
                    ours = cursor.fetchone() is not None
            except OperationalError as exc:
                if not isinstance(exc.__cause__, psycopg.errors.LockNotAvailable):
                    raise
                transaction.set_rollback(True)  # lock_timeout: someone holds the room for longer
            else:
                if not ours:
                    return False
                # FOR UPDATE on the pending row is the claim (the room is ours already, the reminder and
                # its deadline are skipped if another path holds them): only one path moves pending → sent.
                reminder = (
                    _claim_query(now + timedelta(milliseconds=500))  # type: ignore[attr-defined]
                    .filter(pk=reminder_id, version=version)
                    .first()
                )
                if reminder is not None:
                    reminder.claimed_at = now
                    return _fire(reminder, now, FiredBy.ETA)
        still = Reminder.objects.filter(
            pk=reminder_id,
            version=version,
            state=ReminderState.PENDING,
            due_at__lte=now + timedelta(seconds=1),
            deadline__incident__drill_paused_at__isnull=True,  # paused: resuming plans it again
        ).exists()
        if not still:
            return False
        if attempt + 1 < tries:
            time.sleep(0.02)
    return BUSY


# --- the Celery tasks ------------------------------------------------------------------------------------------
# The sweep is acknowledged on receipt (acks_late off): losing one costs nothing (beat sends the next in
# seconds), and an unacknowledged long sweep would fill the worker's prefetch slot so that it could not take
# its share of the ETA reminder tasks meanwhile.


@shared_task(name="incidents.tasks.sweep_reminders_task", acks_late=False)
def sweep_reminders_task() -> int:
    """Beat, every few seconds: fire what is due (the durable path) and hand what is due soon to ETA tasks.
    A sweep works in short slices and queues the next slice itself when work is left, so the ETA tasks
    waiting on this worker run between slices instead of after the whole backlog."""
    result = sweep_reminders()
    if result.more:
        with contextlib.suppress(Exception):  # Redis away: beat's next sweep carries on
            sweep_reminders_task.apply_async(retry=False)
    return result.fired


@shared_task(name="incidents.tasks.fire_reminder_task", bind=True, acks_late=True, max_retries=20)
def fire_reminder_task(
    self: Task,  # type: ignore[type-arg]
    reminder_id: int,
    version: int,
    handed: str | None = None,
) -> bool:
    """The precise path: runs at the reminder's due time. Running twice (a redelivery, a killed worker) is
    harmless: the claim is conditional on (id, version, pending). `handed` names the hand-over that sent it
    (tasks queued before it existed carry none). When its rows are busy it steps aside for a moment instead
    of holding the worker (the sweep fires it if it never gets through)."""
    outcome = fire_reminder(reminder_id=reminder_id, version=version, handed=handed)
    if outcome == BUSY:
        try:
            raise self.retry(countdown=0.1)
        except self.MaxRetriesExceededError:
            return False
    return bool(outcome)
