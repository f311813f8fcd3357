from __future__ import annotations

import contextlib

from celery import Task, shared_task
from django.core.management import call_command

from incidents import services
from incidents.services import deadlines
from incidents.services.notify import send_pending_webhooks


@shared_task
def clear_expired_sessions() -> None:
    """Expired sessions are refused at login anyway; this only keeps the table small."""
    call_command("clearsessions")


# The sweeps below are acknowledged on receipt (acks_late off): losing one costs nothing (beat sends the next
# in seconds), and an unacknowledged long sweep would fill the worker's prefetch slot so that it could not
# take its share of the ETA reminder tasks meanwhile.


@shared_task(acks_late=False)
def send_outbox_task() -> int:
    return services.send_pending_emails()


@shared_task(acks_late=False)
def send_webhooks_task() -> int:
    return send_pending_webhooks()


@shared_task(acks_late=False)
def sweep_reminders_task() -> int:
    """Beat, every few seconds: fire what is due (the durable path) and hand what is due soon to ETA tasks.
    A sweep works in short slices and queues the next slice itself when work is left, so the ETA tasks
    waiting on this worker run between slices instead of after the whole backlog."""
    result = deadlines.sweep_reminders()
    if result.more:
        with contextlib.suppress(Exception):  # Redis away: beat's next sweep carries on
            sweep_reminders_task.apply_async(retry=False)
    return result.fired


@shared_task(bind=True, acks_late=True, max_retries=20)
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
    outcome = deadlines.fire_reminder(reminder_id=reminder_id, version=version, handed=handed)
    if outcome == deadlines.BUSY:
        try:
            raise self.retry(countdown=0.1)
        except self.MaxRetriesExceededError:
            return False
    return bool(outcome)
