"""Reminders with a real Celery worker and beat (subprocesses) against PostgreSQL and a private Redis.

Each test gets its own redis-server on a free port (the shared one is never touched), a worker
(`-P solo`) and a beat with a 1 s sweep. The test process itself never publishes to any broker (ETA
horizon 0 here, outbox kicks off): everything reaches Celery through the beat sweep, as after an outage.
"""

from __future__ import annotations

import contextlib
import importlib
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.utils import timezone

from bench.processes import Proc, RedisServer, wait_until
from incidents import services
from incidents.models import (
    Deadline,
    DeadlineKind,
    Notification,
    OrgRole,
    OutboundEmail,
    Reminder,
    ReminderKind,
    ReminderState,
    Severity,
    TimelineEntry,
)
from incidents.services import deadlines as dl
from tests.factories import UserFactory
from tests.live_server_asgi import database_url, server_environment

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SWEEP = 1.0  # seconds between beat sweeps in these tests
notify_module = importlib.import_module("incidents.services.notify")


class Stack:
    def __init__(self, tmp: Path, extra_env: dict[str, str], worker_args: tuple[str, ...] = ()) -> None:
        self.tmp = tmp
        self.redis = RedisServer(tmp)
        env = server_environment(
            REDIS_URL=self.redis.url(3),
            DATABASE_URL=database_url(),
            REMINDER_SWEEP_SECONDS=str(SWEEP),
            # The sweep leaves a handed-over reminder to its ETA task for 30 s (2 s in production), so on a
            # busy machine a slow ETA task is not overtaken and which path fired it is the test's to assert.
            REMINDER_ETA_HEAD_START_SECONDS="30",
            WEBHOOK_SWEEP_SECONDS="1",
            OUTBOX_SWEEP_SECONDS="1",
            WEBHOOK_BACKOFF_SECONDS="1",
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
            DB_POOL_MIN_SIZE="1",
            DB_POOL_MAX_SIZE="4",
            **extra_env,
        )
        celery = [sys.executable, "-m", "celery", "-A", "warroom"]
        self.worker = Proc(
            "worker",
            [
                *celery,
                "worker",
                "-P",
                "solo",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "info",
                *worker_args,
            ],
            env,
            tmp,
        )
        self.beat = Proc("beat", [*celery, "beat", "-s", str(tmp / "beat-schedule"), "-l", "info"], env, tmp)

    def start_redis(self) -> None:
        self.redis.start()

    def start_worker(self) -> None:
        def readies() -> int:
            return self.worker.text().count(" ready.")

        before = readies()
        self.worker.start()
        wait_until(lambda: readies() > before, 30, "worker not ready", self.worker.tail)

    def close(self) -> None:
        for proc in (self.beat, self.worker, self.redis):
            proc.kill(signal.SIGTERM)


@contextlib.contextmanager
def running_stack(
    settings, monkeypatch, extra_env: dict[str, str], worker_args: tuple[str, ...] = ()
) -> Iterator[Stack]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (make test installs it)")
    # The test process never publishes: no ETA hand-over (horizon 0), no outbox kicks.
    settings.REMINDER_ETA_HORIZON_SECONDS = 0
    monkeypatch.setattr(notify_module, "_kick_outbox", lambda: None)
    monkeypatch.setattr(notify_module, "_kick_webhooks", lambda: None)
    tmp = Path(tempfile.mkdtemp(prefix="warroom-celery-"))
    s = Stack(tmp, extra_env, worker_args)
    try:
        s.start_redis()
        s.start_worker()
        s.beat.start()
        # Beat takes seconds to start on a busy machine: until its first sweep nothing is handed to an ETA
        # task, and a reminder due before that would be the sweep's, not its task's.
        wait_until(lambda: "Sending due task" in s.beat.text(), 60, "beat never swept", s.beat.tail)
        yield s
    finally:
        s.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def stack(django_db_setup, settings, monkeypatch) -> Iterator[Stack]:
    with running_stack(settings, monkeypatch, {}) as s:
        yield s


def task_due_in(commander, seconds: float, title: str = "Call the bank") -> tuple[Deadline, Reminder]:
    incident = services.incident_declare(
        actor=commander, title="Card payments failing", scenario="outage", severity=Severity.SEV4
    )
    deadline = dl.deadline_create(
        incident=incident,
        kind=DeadlineKind.TASK,
        title=title,
        owner=commander,
        due_at=timezone.now() + timedelta(seconds=seconds),
        remind_before_minutes=0,
        escalation_grace_minutes=60,
    )
    return deadline, Reminder.objects.get(deadline=deadline, kind=ReminderKind.DUE, version=deadline.version)


def effects(reminder: Reminder) -> tuple[int, int, int]:
    """(notifications, timeline entries, e-mails) this reminder produced."""
    key = f"reminder:{reminder.pk}:"
    deadline = reminder.deadline
    return (
        Notification.objects.filter(key__startswith=key).count(),
        TimelineEntry.objects.filter(
            kind="reminder", incident_id=deadline.incident_id, body__contains=f"“{deadline.title}” is overdue"
        ).count(),
        OutboundEmail.objects.filter(key__startswith=key).count(),
    )


def sent(reminder: Reminder) -> bool:
    return Reminder.objects.filter(pk=reminder.pk, state=ReminderState.SENT).exists()


def settle(stack: Stack, commander, after: Reminder) -> None:
    """Wait until the stack has done everything it would do about `after`: a sentinel reminder due a few
    sweeps later has fired, so every sweep and every ETA task up to then (a stale one included) has run.
    A condition, not a sleep: on a busy machine it simply takes longer."""
    seconds = max(0.0, (after.due_at - timezone.now()).total_seconds()) + 3 * SWEEP
    _deadline, sentinel = task_due_in(commander, seconds, title="Sentinel")
    wait_until(lambda: sent(sentinel), 30 + seconds, "the sentinel reminder did not fire", stack.worker.tail)


@pytest.fixture
def commander(db):
    return UserFactory.create(display_name="Maja Commander", org_role=OrgRole.CRISIS_MANAGER)


def test_a_reminder_fires_once_on_time_and_a_moved_deadline_never_fires_at_the_old_time(stack, commander):
    _deadline, reminder = task_due_in(commander, 4)
    moved, old = task_due_in(commander, 4, title="Brief the CEO")
    dl.deadline_reschedule(deadline=moved, actor=commander, due_at=timezone.now() + timedelta(minutes=30))
    wait_until(lambda: sent(reminder), 30, "the reminder did not fire", stack.worker.tail)
    settle(
        stack, commander, after=old
    )  # more sweeps and the stale ETA task of the old time have had their chance
    reminder.refresh_from_db()
    assert reminder.sent_at is not None
    assert reminder.sent_at >= reminder.due_at  # never early (how late is a bench figure, not a test's)
    assert reminder.fired_by == "eta"  # its ETA task, at its time; not the sweep
    assert effects(reminder) == (1, 1, 1)
    old.refresh_from_db()
    assert old.state == ReminderState.CANCELLED
    assert not Notification.objects.filter(key__startswith=f"reminder:{old.pk}:").exists()
    assert not Reminder.objects.filter(deadline=moved, state=ReminderState.SENT).exists()
    assert "Traceback" not in stack.worker.tail()


def test_worker_killed_mid_send_fires_exactly_once_after_restart(stack, commander):
    deadline, reminder = task_due_in(commander, 3)
    # Block the worker inside its firing transaction: an uncommitted row with the same (recipient, key)
    # makes its notification INSERT wait on the unique index — mid-send, effects half written.
    blocker = psycopg.connect(database_url(), autocommit=False)
    try:
        with blocker.cursor() as cur:
            cur.execute(
                "INSERT INTO incidents_notification (recipient_id, incident_id, text, url, key, created_at)"
                " VALUES (%s, %s, 'blocker', '', %s, now())",
                [commander.pk, deadline.incident_id, f"reminder:{reminder.pk}:{commander.pk}"],
            )
        with psycopg.connect(database_url(), autocommit=True) as watcher:
            wait_until(
                lambda: watcher.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0] > 0,  # type: ignore[index]
                15,
                "the worker never reached the send",
                stack.worker.tail,
            )
        stack.worker.kill()  # SIGKILL: no goodbye to PostgreSQL or Redis
        blocker.rollback()
    finally:
        blocker.close()
    assert not sent(reminder)  # the killed transaction left nothing behind
    assert effects(reminder) == (0, 0, 0)
    stack.start_worker()
    wait_until(lambda: sent(reminder), 30, "the reminder did not fire after the restart", stack.worker.tail)
    settle(stack, commander, after=reminder)
    assert effects(reminder) == (1, 1, 1)


def test_redis_down_while_a_reminder_comes_due_fires_once_after_it_returns(stack, commander):
    stack.redis.kill()
    # Creating deadlines works with Redis down (nothing here needs the broker).
    _deadline, reminder = task_due_in(commander, 3)
    # The outage lasts until the reminder is overdue by two sweeps.
    overdue = reminder.due_at + timedelta(seconds=2 * SWEEP)
    wait_until(lambda: timezone.now() > overdue, 60, "the reminder never came due", stack.worker.tail)
    assert not sent(reminder)  # overdue, but nothing could tell the worker
    stack.start_redis()
    wait_until(
        lambda: sent(reminder),
        60,
        "the reminder did not fire after Redis returned",
        lambda: f"{stack.worker.tail()}\n--- beat ---\n{stack.beat.tail()}",
    )
    settle(stack, commander, after=reminder)
    assert effects(reminder) == (1, 1, 1)
    reminder.refresh_from_db()
    assert reminder.fired_by == "sweep"  # overdue when Redis returned: the sweep's to fire


@pytest.mark.parametrize("point", ["consume", "ack"])
def test_worker_survives_kombu_failing_on_the_transport_it_dropped_during_a_redis_restart(
    django_db_setup, settings, monkeypatch, commander, point
):
    """kombu can raise AttributeError instead of a connection error around a Redis restart (consuming on the
    new connection, acknowledging a message from the old one) and Celery would end the worker.
    tests/celery_faults.py makes kombu do it at either point: the worker must reconnect and keep firing."""
    from tests.celery_faults import MARKER

    with running_stack(
        settings, monkeypatch, {"WARROOM_TEST_KOMBU_FAULT": point}, ("-I", "tests.celery_faults")
    ) as stack:
        stack.redis.kill()
        wait_until(
            lambda: (
                "broker lost" in stack.worker.text().lower() or "Broker unreachable" in stack.worker.text()
            ),
            30,
            "the worker never noticed Redis was gone",
            stack.worker.tail,
        )
        stack.start_redis()
        wait_until(
            lambda: MARKER in stack.worker.text(), 15, "the fault was never injected", stack.worker.tail
        )
        _deadline, reminder = task_due_in(commander, 2)
        wait_until(lambda: sent(reminder), 15, "the worker stopped firing reminders", stack.worker.tail)
        assert stack.worker.proc is not None
        assert stack.worker.proc.poll() is None, stack.worker.tail()
        assert "reconnecting" in stack.worker.text(), stack.worker.text()[-6000:]
        settle(stack, commander, after=reminder)
        assert effects(reminder) == (1, 1, 1)
