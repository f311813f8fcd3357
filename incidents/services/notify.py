"""In-app notifications and the e-mail outbox."""

from __future__ import annotations

import logging
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from incidents.models import Incident, Notification, OutboundEmail, User

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


def notify(
    *, user: User, incident: Incident | None, text: str, url: str = "", key: str, email: bool = True
) -> None:
    """Tell one person something: an in-app notification, and an e-mail through the outbox.

    `key` identifies the cause (e.g. "team-event:42:7"), so the same cause never e-mails twice.
    Drills say so in every message.
    """
    if incident is not None and incident.is_drill:
        text = f"[DRILL] {text}"
    Notification.objects.create(recipient=user, incident=incident, text=text, url=url)
    if email and user.email:
        link = f"\n\nOpen the war room: {settings.SITE_URL.rstrip('/')}{url}" if url else ""
        OutboundEmail.objects.get_or_create(
            key=key,
            defaults={
                "to": user.email,
                "subject": f"{'[DRILL] ' if incident and incident.is_drill else ''}{_subject(incident, text)}",
                "body": f"Hello {user.get_short_name()},\n\n{text}{link}\n\n— War Room, {settings.ORGANISATION_NAME}",
            },
        )
        transaction.on_commit(_kick_outbox)


def _subject(incident: Incident | None, text: str) -> str:
    prefix = f"{incident.reference}: " if incident else ""
    return (prefix + text.removeprefix("[DRILL] "))[:300]


def _kick_outbox() -> None:
    # Deferred import: tasks import services. A broker outage only delays the e-mail: beat sweeps the
    # outbox every few seconds.
    from incidents.tasks import send_outbox_task

    try:
        send_outbox_task.delay()
    except Exception:  # kombu raises OperationalError and friends when Redis is down
        log.warning("Redis unavailable; the outbox sweep will send the e-mail later.")


def send_pending_emails(*, limit: int = 50) -> int:
    """Send what the outbox holds. Rows are claimed with SKIP LOCKED so parallel workers never double-send."""
    sent = 0
    while sent < limit:
        with transaction.atomic():
            row = (
                OutboundEmail.objects.select_for_update(skip_locked=True)
                .filter(sent_at__isnull=True, attempts__lt=MAX_ATTEMPTS)
                .order_by("created_at")
                .first()
            )
            if row is None:
                break
            row.attempts += 1
            try:
                message = EmailMessage(
                    row.subject,
                    row.body,
                    settings.DEFAULT_FROM_EMAIL,
                    [row.to],
                    headers={"Message-ID": make_msgid(idstring=row.key.replace(":", "."), domain="warroom")},
                )
                message.send()
            except Exception as exc:  # any SMTP/network failure: keep the row, try again later
                row.last_error = f"{type(exc).__name__}: {exc}"[:500]
                row.save(update_fields=["attempts", "last_error"])
                log.warning("E-mail %s not sent (attempt %s): %s", row.key, row.attempts, row.last_error)
                break
            row.sent_at = timezone.now()
            row.save(update_fields=["attempts", "sent_at"])
            sent += 1
    return sent
