from __future__ import annotations

from celery import shared_task
from django.core.management import call_command

from incidents import services


@shared_task
def clear_expired_sessions() -> None:
    """Expired sessions are refused at login anyway; this only keeps the table small."""
    call_command("clearsessions")


@shared_task
def send_outbox_task() -> int:
    return services.send_pending_emails()
