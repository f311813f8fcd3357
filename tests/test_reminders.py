"""Reminders: firing exactly once (the sweep and the ETA tasks), escalation to the backup and then the
commander, what restricted incidents and drills say, the sweep's cost and slices, and the races between
sweeps, ETA tasks and people acting on deadlines.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
import time_machine

from incidents.models import (
    Deadline,
    DeadlineKind,
    Notification,
    OrgRole,
    OutboundEmail,
    Reminder,
    ReminderKind,
    ReminderState,
    RoleAssignment,
    Severity,
    TimelineEntry,
    WebhookDelivery,
    WebhookEndpoint,
)
from incidents.services import deadlines as dl
from incidents.services import reminders
from tests.factories import UserFactory, give_role
from tests.factories_deadlines import T0, declare, first_response, quiet_broker
from tests.helpers import race, room_held


@pytest.fixture(autouse=True)
def eta_sent(monkeypatch):
    return quiet_broker(monkeypatch)


# --- firing and escalation ----------------------------------------------------------------------------------


@pytest.fixture
def escalation(manager):
    """A task owned by Erik, whose backup is Sofia; Maja commands."""
    with time_machine.travel(T0, tick=False):
        incident = declare(manager, Severity.SEV4)
        erik = UserFactory.create(display_name="Erik Owner", email="erik@example.com")
        sofia = UserFactory.create(display_name="Sofia Backup", email="sofia@example.com")
        give_role(incident, erik, "drafter")
        give_role(incident, sofia, "observer")
        RoleAssignment.objects.filter(incident=incident, user=erik).update(backup=sofia)
        task = dl.deadline_create(
            incident=incident,
            kind=DeadlineKind.TASK,
            title="Brief the support team",
            due_at=T0 + timedelta(minutes=30),
            owner=erik,
            remind_before_minutes=10,
            escalation_grace_minutes=5,
        )
    return incident, task, erik, sofia


def sweep_at(moment: datetime) -> reminders.SweepResult:
    with time_machine.travel(moment, tick=False):
        return reminders.sweep_reminders(enqueue=False)


def inbox(user) -> list[str]:
    return list(
        Notification.objects.filter(recipient=user, key__startswith="reminder:")
        .order_by("created_at", "pk")
        .values_list("text", flat=True)
    )


def test_reminder_before_due_then_overdue_then_backup_then_commander(escalation, manager):
    incident, task, erik, sofia = escalation
    assert sweep_at(T0 + timedelta(minutes=19)).fired == 0
    assert sweep_at(T0 + timedelta(minutes=20)).fired == 1
    # In Erik's own zone (Europe/Warsaw), named: the notification has one reader.
    assert inbox(erik)[-1].startswith(
        f"{incident.reference}: “Brief the support team” is due at 2 Mar, 10:30 CET (in 10 min)"
    )
    assert sweep_at(T0 + timedelta(minutes=30)).fired == 1
    assert "is overdue" in inbox(erik)[-1]
    task.refresh_from_db()
    assert task.missed_at == T0 + timedelta(minutes=30)
    assert sweep_at(T0 + timedelta(minutes=35)).fired == 1
    assert inbox(sofia) == [
        f"{incident.reference}: escalated to you as backup for Erik Owner: “Brief the support team” is 5 min overdue."
    ]
    commander_before = len(inbox(manager))
    assert sweep_at(T0 + timedelta(minutes=40)).fired == 1
    assert "escalated to you as commander" in inbox(manager)[-1]
    assert len(inbox(manager)) == commander_before + 1
    task.refresh_from_db()
    assert task.escalation_level == 2
    # Each effect: one timeline entry, one e-mail per recipient, and nothing on a second sweep.
    assert TimelineEntry.objects.filter(incident=incident, kind="reminder").count() == 4
    assert OutboundEmail.objects.filter(key__startswith="reminder:").count() == 4
    assert sweep_at(T0 + timedelta(hours=5)).fired == 0
    assert set(Reminder.objects.filter(deadline=task, state="sent").values_list("fired_by", flat=True)) == {
        "sweep"
    }


def test_without_a_backup_the_escalation_goes_to_the_commander(manager):
    with time_machine.travel(T0, tick=False):
        declare(manager, Severity.SEV1)
    sweep_at(T0 + timedelta(minutes=40))  # before, due and backup escalation at once (late sweep)
    texts = inbox(manager)
    assert any("has no backup" in t for t in texts)
    assert sum("overdue" in t for t in texts) == 2


def test_done_or_moved_deadlines_never_remind_for_the_old_time(escalation):
    _incident, task, erik, _ = escalation
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        dl.deadline_reschedule(deadline=task, actor=erik, due_at=T0 + timedelta(hours=2))
    assert sweep_at(T0 + timedelta(minutes=45)).fired == 0
    assert inbox(erik) == []
    assert sweep_at(T0 + timedelta(minutes=110)).fired == 1  # the new "before" reminder
    task.refresh_from_db()
    dl.deadline_complete(deadline=task, actor=erik)
    assert sweep_at(T0 + timedelta(hours=5)).fired == 0
    assert len(inbox(erik)) == 1


def test_a_stale_eta_task_is_a_no_op_and_a_current_one_fires_once(escalation):
    _incident, task, erik, _ = escalation
    old = Reminder.objects.get(deadline=task, kind=ReminderKind.BEFORE, version=1)
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        moved = dl.deadline_reschedule(deadline=task, actor=erik, due_at=T0 + timedelta(minutes=40))
    new = Reminder.objects.get(deadline=task, kind=ReminderKind.BEFORE, version=moved.version)
    with time_machine.travel(T0 + timedelta(minutes=21), tick=False):
        assert reminders.fire_reminder(reminder_id=old.pk, version=1) is False
    with time_machine.travel(T0 + timedelta(minutes=30), tick=False):
        assert reminders.fire_reminder(reminder_id=new.pk, version=moved.version) is True
        assert reminders.fire_reminder(reminder_id=new.pk, version=moved.version) is False  # redelivered
        assert reminders.sweep_reminders(enqueue=False).fired == 0
    assert len(inbox(erik)) == 1
    new.refresh_from_db()
    assert new.fired_by == "eta"  # the precise path, recorded


def test_the_sweep_hands_soon_due_reminders_to_eta_tasks_once(escalation, eta_sent):
    _incident, task, *_ = escalation
    eta_sent.clear()
    with time_machine.travel(T0 + timedelta(minutes=19), tick=False):
        assert reminders.enqueue_due_soon() >= 1
        ids = {pk for pk, *_ in eta_sent}
        assert Reminder.objects.get(deadline=task, kind=ReminderKind.BEFORE).pk in ids
        eta_sent.clear()
        assert reminders.enqueue_due_soon() == 0  # enqueued_at marks it: no second ETA
    # Nothing is ever handed over further out than the horizon.
    far = Reminder.objects.filter(deadline=task, enqueued_at__isnull=True).values_list("due_at", flat=True)
    assert all(d > T0 + timedelta(minutes=19) + reminders.eta_horizon() for d in far)


def test_drills_say_so_everywhere_and_restricted_incidents_keep_the_title_out_of_webhooks(manager):
    WebhookEndpoint.objects.create(name="Slack", url="http://127.0.0.1:9/hook", secret="s3cret")
    with time_machine.travel(T0, tick=False):
        declare(manager, Severity.SEV1, is_drill=True, is_restricted=True)
    sweep_at(T0 + timedelta(minutes=20))
    note = Notification.objects.filter(recipient=manager, key__startswith="reminder:").get()
    assert note.text.startswith("[DRILL] ")
    email = OutboundEmail.objects.get(key=note.key)
    assert email.subject.startswith("[DRILL] ")
    delivery = WebhookDelivery.objects.get()
    assert delivery.payload["text"].startswith("[DRILL] ")
    assert delivery.payload["drill"] is True
    assert "Checkout" not in delivery.payload["text"]
    assert "restricted" in delivery.payload["text"]


def test_sweep_query_cost_per_reminder_is_bounded(manager, django_assert_max_num_queries):
    with time_machine.travel(T0, tick=False):
        incidents = [declare(manager, Severity.SEV1) for _ in range(5)]
    assert len(incidents) == 5
    with time_machine.travel(T0 + timedelta(minutes=21), tick=False), django_assert_max_num_queries(5 * 20):
        assert reminders.sweep_reminders(enqueue=False).fired == 5


def test_a_sweep_out_of_budget_queues_its_next_slice_and_the_slices_fire_everything(manager, monkeypatch):
    """A sweep fires for a short budget and then hands its worker back (ETA tasks wait behind it otherwise);
    with work left it queues the next slice itself, and the slices together fire each reminder once."""
    from incidents import tasks

    with time_machine.travel(T0, tick=False):
        for _ in range(3):
            declare(manager, Severity.SEV1)
    queued: list[object] = []
    monkeypatch.setattr(tasks.sweep_reminders_task, "apply_async", lambda **kw: queued.append(kw))
    monkeypatch.setattr(reminders, "enqueue_due_soon", lambda **kw: 0)
    with time_machine.travel(T0 + timedelta(minutes=21), tick=False):
        monkeypatch.setattr(reminders, "SWEEP_BUDGET_SECONDS", -1.0)  # spent before the first reminder
        assert tasks.sweep_reminders_task() == 0
        assert len(queued) == 1
        assert not Notification.objects.exists()  # nothing changed by the empty slice
        monkeypatch.setattr(reminders, "SWEEP_BUDGET_SECONDS", 5.0)
        assert tasks.sweep_reminders_task() == 3
        assert len(queued) == 1  # all done: no further slice
        assert tasks.sweep_reminders_task() == 0
    assert Notification.objects.filter(key__startswith="reminder:").count() == 3


def test_a_backup_outside_a_restricted_team_is_not_told(manager):
    with time_machine.travel(T0, tick=False):
        incident = declare(manager, Severity.SEV4, is_restricted=True)
        erik = UserFactory.create(display_name="Erik Owner")
        stranger = UserFactory.create(display_name="Not On The Team")
        give_role(incident, erik, "drafter")
        RoleAssignment.objects.filter(incident=incident, user=erik).update(backup=stranger)
        dl.deadline_create(
            incident=incident,
            kind=DeadlineKind.TASK,
            title="Secret task",
            owner=erik,
            due_at=T0 + timedelta(minutes=30),
            escalation_grace_minutes=5,
        )
    sweep_at(T0 + timedelta(minutes=36))
    assert inbox(stranger) == []
    assert any("Secret task" in t for t in inbox(manager))  # the commander hears instead


def test_my_due_lists_what_i_answer_for(manager, escalation):
    incident, task, erik, sofia = escalation
    assert [d.pk for d in dl.my_due(erik)] == [task.pk]
    assert dl.my_due(sofia) == []
    assert first_response(incident) in dl.my_due(manager)  # nobody holds comms-lead: the commander


# --- races ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_people_completing_or_snoozing_at_once_one_winner():
    ensure = UserFactory.create(org_role=OrgRole.CRISIS_MANAGER)
    for _ in range(10):
        incident = declare(ensure)
        deadline = first_response(incident)

        def act(i: int, deadline=deadline):
            if i % 2:
                return dl.deadline_complete(deadline=deadline, actor=ensure, expected_version=1)
            return dl.deadline_snooze(
                deadline=deadline, actor=ensure, minutes=5, reason="race", expected_version=1
            )

        results = race(4, act)
        winners = [r for r in results if isinstance(r, Deadline)]
        assert len(winners) == 1, results
        assert all(isinstance(r, dl.DeadlineConflict) for r in results if r not in winners)
        deadline.refresh_from_db()
        assert deadline.version == 2
        assert Reminder.objects.filter(deadline=deadline, state=ReminderState.PENDING, version=1).count() == 0


@pytest.mark.django_db(transaction=True)
def test_sweeps_and_eta_tasks_racing_fire_each_reminder_once():
    commander = UserFactory.create(org_role=OrgRole.CRISIS_MANAGER)
    with time_machine.travel(T0, tick=False):
        incidents = [declare(commander, Severity.SEV1) for _ in range(6)]
    ids = list(
        Reminder.objects.filter(deadline__incident__in=incidents, kind=ReminderKind.BEFORE).values_list(
            "pk", "version"
        )
    )

    def go(i: int):
        with time_machine.travel(T0 + timedelta(minutes=21), tick=False):
            if i < 2:
                return reminders.sweep_reminders(enqueue=False).fired
            return sum(reminders.fire_reminder(reminder_id=pk, version=v) is True for pk, v in ids)

    results = race(4, go)
    assert sum(r for r in results if isinstance(r, int)) == 6, results
    assert Notification.objects.filter(key__startswith="reminder:").count() == 6
    assert TimelineEntry.objects.filter(kind="reminder").count() == 6


@pytest.mark.django_db(transaction=True)
def test_an_eta_task_waits_for_a_busy_room_instead_of_stepping_aside():
    """Someone holds the incident (posting, another reminder of the same room): the precise path waits its
    turn and fires, rather than handing the reminder back to the next sweep a few seconds late."""
    commander = UserFactory.create(org_role=OrgRole.CRISIS_MANAGER)
    with time_machine.travel(T0, tick=False):
        incident = declare(commander, Severity.SEV1)
    reminder = Reminder.objects.get(deadline__incident=incident, kind=ReminderKind.BEFORE)
    # Held longer than the old skip-and-retry window (3 x 20 ms), shorter than the lock timeout.
    with room_held(incident, release_after=0.3), time_machine.travel(T0 + timedelta(minutes=21), tick=False):
        assert reminders.fire_reminder(reminder_id=reminder.pk, version=reminder.version) is True
    reminder.refresh_from_db()
    assert reminder.state == ReminderState.SENT


@pytest.mark.django_db(transaction=True)
def test_an_eta_task_behind_a_long_hold_steps_aside_and_changes_nothing():
    """Behind anything slower than its 200 ms lock timeout, the precise path gives up cleanly (BUSY: its task
    retries, the sweep is the safety net): no partial effect, and the reminder fires once the room is free."""
    commander = UserFactory.create(org_role=OrgRole.CRISIS_MANAGER)
    with time_machine.travel(T0, tick=False):
        incident = declare(commander, Severity.SEV1)
    reminder = Reminder.objects.get(deadline__incident=incident, kind=ReminderKind.BEFORE)
    entries = TimelineEntry.objects.filter(incident=incident).count()
    with room_held(incident), time_machine.travel(T0 + timedelta(minutes=21), tick=False):
        assert reminders.fire_reminder(reminder_id=reminder.pk, version=reminder.version) == reminders.BUSY
        reminder.refresh_from_db()
        assert (reminder.state, reminder.sent_at) == (ReminderState.PENDING, None)
        assert not Notification.objects.filter(key__startswith=f"reminder:{reminder.pk}:").exists()
        assert TimelineEntry.objects.filter(incident=incident).count() == entries
    with time_machine.travel(T0 + timedelta(minutes=21), tick=False):
        assert reminders.fire_reminder(reminder_id=reminder.pk, version=reminder.version) is True
        assert reminders.fire_reminder(reminder_id=reminder.pk, version=reminder.version) is False
    assert Notification.objects.filter(key__startswith=f"reminder:{reminder.pk}:").count() >= 1
    assert TimelineEntry.objects.filter(incident=incident, kind="reminder").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_task_from_an_earlier_hand_over_is_a_no_op_that_waits_for_nothing():
    """A worker restart hands the next minutes over again, so a healthy worker's task and the new one both come
    due. The older one must give way at once — not queue for the room behind the winner — and fire nothing;
    the current hand-over's task fires; a task from before hand-overs were named still works."""
    commander = UserFactory.create(org_role=OrgRole.CRISIS_MANAGER)
    with time_machine.travel(T0, tick=False):
        incident = declare(commander, Severity.SEV1)
    before, due = (
        Reminder.objects.get(deadline__incident=incident, kind=kind)
        for kind in (ReminderKind.BEFORE, ReminderKind.DUE)
    )
    with time_machine.travel(T0 + timedelta(minutes=19), tick=False):
        assert reminders.enqueue_due_soon() >= 1  # the first hand-over
    first = Reminder.objects.get(pk=before.pk).enqueued_at
    assert first is not None
    with time_machine.travel(T0 + timedelta(minutes=19, seconds=30), tick=False):
        assert reminders.reset_hand_overs() >= 1  # a worker reconnected …
        assert reminders.enqueue_due_soon() >= 1  # … and the next sweep handed everything over again
    second = Reminder.objects.get(pk=before.pk).enqueued_at
    assert second is not None
    assert second != first

    with room_held(incident), time_machine.travel(T0 + timedelta(minutes=20), tick=False):
        started = time.perf_counter()
        stale = reminders.fire_reminder(
            reminder_id=before.pk, version=before.version, handed=first.isoformat()
        )
        waited = time.perf_counter() - started
    assert stale is False
    assert waited < 0.15, waited  # did not queue for the room (its lock timeout is 200 ms)
    assert Reminder.objects.get(pk=before.pk).state == ReminderState.PENDING
    with time_machine.travel(T0 + timedelta(minutes=20), tick=False):
        assert (
            reminders.fire_reminder(reminder_id=before.pk, version=before.version, handed=first.isoformat())
            is False
        )
        assert (
            reminders.fire_reminder(reminder_id=before.pk, version=before.version, handed=second.isoformat())
            is True
        )
        assert (
            reminders.fire_reminder(reminder_id=before.pk, version=before.version, handed=second.isoformat())
            is False
        )
    with time_machine.travel(T0 + timedelta(minutes=30), tick=False):
        assert reminders.fire_reminder(reminder_id=due.pk, version=due.version) is True  # no hand-over named
    assert TimelineEntry.objects.filter(incident=incident, kind="reminder").count() == 2
