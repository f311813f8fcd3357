"""In-app notifications, the e-mail outbox and the webhook outbox.

Every outgoing message is a row written in the same transaction as its cause, under a unique key, and is
sent after commit by a worker (and again by a beat sweep if that kick was lost). A retried cause therefore
never rings a bell, sends an e-mail or posts a webhook twice. The Celery tasks that send them are defined
here, beside what they run (registered as "incidents.tasks.…", the names the beat schedule uses).
May import models, incidents.timetext and incidents.live only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.utils import make_msgid
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from incidents import live
from incidents.models import Incident, Notification, OutboundEmail, User, WebhookDelivery, WebhookEndpoint
from incidents.timetext import for_zone, organisation_zone, zone_of

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


def in_language_of(user: User) -> translation.override:
    """Build a message for `user` in their language (their profile's, else the organisation's): wrap the
    building of the text in it as well as the notify() call."""
    return translation.override(user.language or settings.LANGUAGE_CODE)


def notify(
    *, user: User, incident: Incident | None, text: str, url: str = "", key: str, email: bool = True
) -> None:
    """Tell one person something: an in-app notification, and an e-mail through the outbox.

    `key` identifies the cause (e.g. "team-event:42:7"), so the same cause never notifies or e-mails the
    same person twice: one INSERT … ON CONFLICT DO NOTHING on the unique (recipient, key) — one round trip
    (get_or_create takes four, on every reminder a worker fires). Drills say so in every message.

    A notification has one reader: the times in `text` (stamps, incidents.timetext) are restated in the
    recipient's own zone, named, before it is stored — in the bell, the list and the e-mail alike.
    """
    notify_all([notification_for(user=user, incident=incident, text=text, url=url, key=key, email=email)])


@dataclass(frozen=True)
class Message:
    """One person's notification and its e-mail, built in their language, not yet stored."""

    user: User
    notification: Notification
    email: OutboundEmail | None


def notification_for(
    *, user: User, incident: Incident | None, text: str, url: str = "", key: str, email: bool = True
) -> Message:
    """What `notify` stores for one person (see there), built in their language: collect several and store
    them with `notify_all` — a published statement tells everyone who approved it, declaring tells the team."""
    with in_language_of(user):
        text = for_zone(text, zone_of(user.time_zone))
        drill = _("[DRILL]")
        if incident is not None and incident.is_drill:
            text = f"{drill} {text}"
        notification = Notification(recipient=user, key=key, incident=incident, text=text[:500], url=url)
        if not (email and user.email):
            return Message(user=user, notification=notification, email=None)
        link = (
            "\n\n" + _("Open the war room: %(url)s") % {"url": settings.SITE_URL.rstrip("/") + url}
            if url
            else ""
        )
        mail = OutboundEmail(
            key=key,
            to=user.email,
            subject=f"{drill + ' ' if incident and incident.is_drill else ''}{_subject(incident, text, drill)}",
            body=_("Hello %(name)s,") % {"name": user.get_short_name()}
            + f"\n\n{text}{link}\n\n— "
            + _("War Room, %(organisation)s") % {"organisation": settings.ORGANISATION_NAME},
        )
        return Message(user=user, notification=notification, email=mail)


def notify_all(messages: Sequence[Message]) -> None:
    """Store the messages: one INSERT … ON CONFLICT DO NOTHING for the notifications and one for the e-mails,
    whatever their number — a repeated cause adds nothing."""
    if not messages:
        return
    Notification.objects.bulk_create([m.notification for m in messages], ignore_conflicts=True)
    for m in messages:
        live.notified(m.user.pk)
    mails = [m.email for m in messages if m.email is not None]
    if mails:
        OutboundEmail.objects.bulk_create(mails, ignore_conflicts=True)
        transaction.on_commit(_kick_outbox)


def _subject(incident: Incident | None, text: str, drill: str) -> str:
    text = text.removeprefix(f"{drill} ")
    prefix = f"{incident.reference}: " if incident and not text.startswith(incident.reference) else ""
    return (prefix + text)[:300]


_last_kick: dict[str, float] = {}


def _debounced(name: str) -> bool:
    """At most one kick per second per process and outbox: the task it starts sends everything pending, so
    a burst of reminders becomes one task, not one per message (it runs a second later to catch the burst)."""
    now = time.monotonic()
    if now - _last_kick.get(name, -10.0) < 1.0:
        return False
    _last_kick[name] = now
    return True


def _kick_outbox() -> None:
    # A broker outage only delays the e-mail: beat sweeps the outbox every few seconds.
    if not _debounced("email"):
        return
    try:
        send_outbox_task.apply_async(countdown=1, retry=False)
    except Exception:  # kombu raises OperationalError and friends when Redis is down
        log.warning("Redis unavailable; the outbox sweep will send the e-mail later.")


def send_pending_emails(*, limit: int = 50, keys: Collection[str] = ()) -> int:
    """Send what the outbox holds (only the rows with these `keys`, when given: a caller that must know when
    its own e-mails went out). Rows are claimed with SKIP LOCKED so parallel workers never double-send."""
    sent = 0
    while sent < limit:
        with transaction.atomic():
            pending = OutboundEmail.objects.filter(sent_at__isnull=True, attempts__lt=MAX_ATTEMPTS)
            if keys:
                pending = pending.filter(key__in=list(keys))
            row = pending.select_for_update(skip_locked=True).order_by("created_at").first()
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


# --- webhooks -------------------------------------------------------------------------------------------------

WEBHOOK_MAX_ATTEMPTS = 8


def webhook_enqueue(*, key: str, text: str, data: dict[str, Any]) -> int:
    """Queue one message for every active organisation webhook (Slack/Teams-compatible: a "text" field).

    `key` is unique per endpoint, so a retried cause posts nothing twice. Returns how many rows are new.
    A channel has many readers: its times are stated in the organisation's zone, named.
    """
    text = for_zone(text, organisation_zone())
    created = 0
    for endpoint in WebhookEndpoint.objects.filter(is_active=True):
        _, new = WebhookDelivery.objects.get_or_create(
            endpoint=endpoint, key=key, defaults={"payload": {"text": text, **data}}
        )
        created += new
    if created:
        transaction.on_commit(_kick_webhooks)
    return created


def _kick_webhooks() -> None:
    if not _debounced("webhook"):
        return
    try:
        send_webhooks_task.apply_async(countdown=1, retry=False)
    except Exception:  # Redis down: the beat sweep posts it later
        log.warning("Redis unavailable; the webhook sweep will post later.")


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "timestamp.body" (a replayed body with a new timestamp does not verify)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def webhook_backoff(attempts: int) -> timedelta:
    """Exponential back-off after the n-th failed attempt: base, twice that, four times … capped at an hour."""
    base = float(settings.WEBHOOK_BACKOFF_SECONDS)
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 3600))


def send_pending_webhooks(*, limit: int = 50) -> int:
    """Post what the webhook outbox holds that is due. Rows are claimed with SKIP LOCKED (parallel workers
    never post the same row at once); a failure keeps the row and pushes its next attempt back."""
    sent = 0
    for _attempt in range(limit):
        with transaction.atomic():
            row = (
                WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("endpoint")
                .filter(
                    sent_at__isnull=True,
                    attempts__lt=WEBHOOK_MAX_ATTEMPTS,
                    next_attempt_at__lte=timezone.now(),
                    endpoint__is_active=True,
                )
                .order_by("next_attempt_at", "pk")
                .first()
            )
            if row is None:
                break
            row.attempts += 1
            body = json.dumps(row.payload, separators=(",", ":"), sort_keys=True).encode()
            stamp = str(int(time.time()))
            request = urllib.request.Request(
                row.endpoint.url,
                data=body,
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": "WarRoom-Webhook/1",
                    "X-WarRoom-Timestamp": stamp,
                    "X-WarRoom-Signature": webhook_signature(row.endpoint.secret, stamp, body),
                    # Receivers may de-duplicate on this: it is the same on every retry of one message.
                    "X-WarRoom-Delivery": row.key,
                },
            )
            status = 0
            error = ""
            try:
                with urllib.request.urlopen(request, timeout=5) as response:  # an admin-set URL
                    status = response.status
            except urllib.error.HTTPError as exc:
                status, error = exc.code, f"HTTP {exc.code}"
            except Exception as exc:  # connection refused, timeout, DNS: retry later
                error = f"{type(exc).__name__}: {exc}"
            row.last_status = status or None
            if 200 <= status < 300:
                row.sent_at = timezone.now()
                row.last_error = ""
                row.save(update_fields=["attempts", "sent_at", "last_status", "last_error"])
                sent += 1
                continue
            row.last_error = error[:500]
            row.next_attempt_at = timezone.now() + webhook_backoff(row.attempts)
            row.save(update_fields=["attempts", "last_status", "last_error", "next_attempt_at"])
            log.warning("Webhook %s not delivered (attempt %s): %s", row.key, row.attempts, row.last_error)
    return sent


# --- the Celery tasks ------------------------------------------------------------------------------------------
# Acknowledged on receipt (acks_late off): losing one costs nothing (beat sends the next in seconds), and an
# unacknowledged long sweep would fill the worker's prefetch slot so that it could not take its share of the
# ETA reminder tasks meanwhile.


@shared_task(name="incidents.tasks.send_outbox_task", acks_late=False)
def send_outbox_task() -> int:
    return send_pending_emails()


@shared_task(name="incidents.tasks.send_webhooks_task", acks_late=False)
def send_webhooks_task() -> int:
    return send_pending_webhooks()
