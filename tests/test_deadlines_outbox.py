"""Reminder e-mail through a real SMTP server (aiosmtpd) and the organisation webhook to a real HTTP server:
payloads, the HMAC signature, retry with back-off on 500, and no duplicates."""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.utils import timezone

from bench.processes import free_port
from incidents import services
from incidents.models import OutboundEmail, Reminder, ReminderKind, Severity, WebhookDelivery, WebhookEndpoint
from incidents.services import reminders

notify_module = importlib.import_module("incidents.services.notify")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    monkeypatch.setattr(reminders, "enqueue_etas", lambda rows, *, handed: 0)
    monkeypatch.setattr(notify_module, "_kick_outbox", lambda: None)
    monkeypatch.setattr(notify_module, "_kick_webhooks", lambda: None)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


@pytest.fixture
def smtp(settings) -> Iterator[Inbox]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    try:
        yield inbox
    finally:
        controller.stop()


class Receiver:
    """Answers the queued statuses in turn (then 200) and records every request."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/warroom"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


def fire_first_response(manager, **kwargs) -> tuple[Any, Reminder]:
    with time_machine.travel(T0, tick=False):
        incident = services.incident_declare(
            actor=manager, title="Card payments failing", scenario="outage", severity=Severity.SEV1, **kwargs
        )
    with time_machine.travel(T0 + timedelta(minutes=20), tick=False):
        assert reminders.sweep_reminders(enqueue=False).fired == 1
    return incident, Reminder.objects.get(deadline__incident=incident, kind=ReminderKind.BEFORE)


def test_reminder_email_goes_through_smtp_once(smtp, manager):
    incident, reminder = fire_first_response(manager, is_drill=True)
    assert services.send_pending_emails() == 1
    assert services.send_pending_emails() == 0  # sent: never again
    # A redelivered task for the same reminder writes nothing new.
    assert reminders.fire_reminder(reminder_id=reminder.pk, version=reminder.version) is False
    assert services.send_pending_emails() == 0
    [(to, message)] = smtp.messages
    assert to == [manager.email]
    assert message["Subject"].strip().startswith(f"[DRILL] {incident.reference}: ")
    assert message["Subject"].count(incident.reference) == 1
    body = message.get_content()
    assert "[DRILL]" in body
    assert "First public response" in body
    assert "is due at 2 Mar, 10:30 CET" in body  # the recipient's zone (Europe/Warsaw), named
    assert incident.room_url in body
    assert OutboundEmail.objects.get().sent_at is not None


def test_webhook_is_signed_retried_with_back_off_and_never_duplicated(receiver, manager, settings):
    settings.WEBHOOK_BACKOFF_SECONDS = 30
    endpoint = WebhookEndpoint.objects.create(
        name="Slack #crisis", url=receiver.url, secret="shh-its-a-secret"
    )
    WebhookEndpoint.objects.create(name="Old Teams hook", url=receiver.url, secret="x", is_active=False)
    receiver.statuses = [500]
    incident, reminder = fire_first_response(manager)
    delivery = WebhookDelivery.objects.get()
    assert delivery.endpoint == endpoint  # inactive endpoints get nothing
    assert notify_module.send_pending_webhooks() == 0  # the receiver said 500
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_status, delivery.sent_at) == (1, 500, None)
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 25 <= wait <= 30
    assert notify_module.send_pending_webhooks() == 0  # not due again yet: back-off
    assert len(receiver.requests) == 1
    with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1)):
        assert notify_module.send_pending_webhooks() == 1
        delivery.refresh_from_db()
        assert notify_module.webhook_backoff(2) == timedelta(seconds=60)  # doubling
    assert delivery.sent_at is not None
    assert delivery.last_status == 200
    assert notify_module.send_pending_webhooks() == 0
    assert reminders.fire_reminder(reminder_id=reminder.pk, version=reminder.version) is False
    assert WebhookDelivery.objects.count() == 1
    assert len(receiver.requests) == 2
    first, second = receiver.requests
    assert first[1] == second[1]  # the retry carries the same message
    headers, body = second
    payload = json.loads(body)
    # A channel has many readers: the organisation's zone (settings.TIME_ZONE), named.
    assert payload["text"].startswith(
        f"{incident.reference}: “First public response” is due at 2 Mar, 09:30 UTC"
    )
    assert payload["incident"] == incident.reference
    assert payload["kind"] == "before"
    assert payload["drill"] is False
    assert payload["url"].endswith(f"{incident.room_url}#deadline-{reminder.deadline_id}")
    assert headers["content-type"] == "application/json"
    assert headers["x-warroom-delivery"] == f"reminder:{reminder.pk}"
    expected = hmac.new(
        b"shh-its-a-secret", headers["x-warroom-timestamp"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert headers["x-warroom-signature"] == f"sha256={expected}"


def test_an_unreachable_webhook_keeps_the_row_for_later(manager):
    WebhookEndpoint.objects.create(name="Gone", url=f"http://127.0.0.1:{free_port()}/", secret="s")
    fire_first_response(manager)
    assert notify_module.send_pending_webhooks() == 0
    delivery = WebhookDelivery.objects.get()
    assert delivery.attempts == 1
    assert delivery.sent_at is None
    assert "Error" in delivery.last_error or "refused" in delivery.last_error
