"""The Celery tasks of the base app, for `autodiscover_tasks()` (warroom/celery.py), which imports this module.

Each task is defined beside the service it runs (services/notify.py, services/reminders.py) under the name it
has always been registered with ("incidents.tasks.…"): the beat schedule in settings and messages already
queued name them so. This module only gathers them; nothing in the app imports it.
"""

from __future__ import annotations

from celery import shared_task
from django.core.management import call_command

from incidents.services.notify import send_outbox_task, send_webhooks_task
from incidents.services.reminders import fire_reminder_task, sweep_reminders_task


@shared_task
def clear_expired_sessions() -> None:
    """Expired sessions are refused at login anyway; this only keeps the table small."""
    call_command("clearsessions")


__all__ = [
    "clear_expired_sessions",
    "fire_reminder_task",
    "send_outbox_task",
    "send_webhooks_task",
    "sweep_reminders_task",
]
