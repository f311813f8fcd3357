"""A Celery worker survives every way a Redis restart reached it in a chaos run, with a real worker.

The chaos run (README, "Celery and Redis restarts") restarted a private redis-server 140 times under two
workers holding ETA tasks, in every way we could think of (SIGKILL or SIGTERM with 0.1 to 5 s down, two or
three restarts while the workers were reconnecting, client connections killed, Redis frozen for 3 s, Redis
away for two minutes). The paths by which a worker met the restart, and the test for each:

- kombu's AttributeError while Celery closes the lost connection's channel, restoring the messages the
  worker held unacknowledged (ETA tasks) through the transport it has just dropped: the path of almost
  every restart. Here ("restore").
- kombu's AttributeError when acknowledging a message from the old connection, and when consuming on the
  new one: tests/test_deadlines_celery.py (`..._on_the_transport_it_dropped...`, "ack" and "consume").
- Redis away longer than Celery's reconnect budget (100 attempts; ~100 s at our one attempt a second): the
  worker exited with "Unrecoverable error: OperationalError". Here ("budget", the budget cut to 3 attempts).

Each test restarts the stack's private Redis with a reminder's worker connected, then checks the worker is
still running and fires a reminder made after Redis is back, exactly once.
"""

from __future__ import annotations

import pytest

from bench.processes import wait_until
from incidents.models import OrgRole
from tests.celery_faults import MARKER, RETRY_MARKER
from tests.factories import UserFactory
from tests.test_deadlines_celery import effects, running_stack, sent, task_due_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _sweeps_done(stack) -> int:
    """Sweeps the worker has finished (it logs every task it ran: -l info)."""
    return sum(
        1
        for line in stack.worker.text().splitlines()
        if "incidents.tasks.sweep_reminders_task[" in line and " succeeded " in line
    )


@pytest.fixture
def commander(db):
    return UserFactory.create(display_name="Maja Commander", org_role=OrgRole.CRISIS_MANAGER)


def _alive(stack) -> bool:
    return stack.worker.proc is not None and stack.worker.proc.poll() is None


def _fires_once_after_redis_returns(stack, commander) -> None:
    _deadline, reminder = task_due_in(commander, 2)
    wait_until(lambda: sent(reminder), 60, "the worker stopped firing reminders", stack.worker.tail)
    # Two more sweeps have run since: a duplicate would have had its chance.
    swept = _sweeps_done(stack)
    wait_until(lambda: _sweeps_done(stack) >= swept + 2, 60, "no sweeps ran", stack.worker.tail)
    assert effects(reminder) == (1, 1, 1)
    assert _alive(stack), stack.worker.tail()


def test_worker_survives_kombu_failing_while_celery_closes_the_lost_connection(
    django_db_setup, settings, monkeypatch, commander
):
    with running_stack(
        settings, monkeypatch, {"WARROOM_TEST_KOMBU_FAULT": "restore"}, ("-I", "tests.celery_faults")
    ) as stack:
        # The worker holds an ETA task (the sweep hands over what is due within two minutes) when Redis goes.
        _deadline, held = task_due_in(commander, 20)  # due after the hand-over, however slow beat starts
        wait_until(
            lambda: "fire_reminder_task[" in stack.worker.text(),
            60,  # beat's first sweeps (a loaded machine takes a while to start beat)
            "the reminder was never handed to the worker",
            stack.worker.tail,
        )
        stack.redis.kill()
        wait_until(
            lambda: MARKER in stack.worker.text(), 60, "the fault was never injected", stack.worker.tail
        )
        stack.start_redis()
        _fires_once_after_redis_returns(stack, commander)
        assert "Broker connection lost inside kombu" in stack.worker.text()
        # The task it held went with the old connection; the reminder was handed over again and fired once.
        wait_until(lambda: sent(held), 60, "the held reminder never fired", stack.worker.tail)
        assert effects(held) == (1, 1, 1)


def test_worker_keeps_reconnecting_after_celerys_retry_budget_runs_out(
    django_db_setup, settings, monkeypatch, commander
):
    with running_stack(
        settings, monkeypatch, {"WARROOM_TEST_KOMBU_FAULT": "budget"}, ("-I", "tests.celery_faults")
    ) as stack:
        stack.redis.kill()
        # Twice the budget of failed attempts (a second apart): without the fix the worker exits after 3.
        wait_until(
            lambda: stack.worker.text().count(RETRY_MARKER) >= 6 or not _alive(stack),
            60,
            "the worker never tried to reconnect",
            stack.worker.tail,
        )
        assert _alive(stack), stack.worker.tail()
        assert "Unrecoverable error" not in stack.worker.text()
        stack.start_redis()
        _fires_once_after_redis_returns(stack, commander)
