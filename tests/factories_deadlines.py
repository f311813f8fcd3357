"""Shared by the deadline and reminder tests: the tables a deadline change touches, a fixed clock, and a quiet
broker (ETA hand-overs recorded, not published; outbox kicks dropped)."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

from incidents import services
from incidents.models import Deadline, DeadlineState, Reminder, ReminderState, Severity
from incidents.services import reminders

notify_module = importlib.import_module("incidents.services.notify")  # the package re-exports notify()

DEADLINE_TABLES = [
    "incidents_deadline",
    "incidents_reminder",
    "incidents_timelineentry",
    "incidents_notification",
    "incidents_outboundemail",
]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def quiet_broker(monkeypatch) -> list[tuple[int, int, datetime]]:
    """Unit tests never talk to Celery: ETA hand-over is recorded, not published (the sweep covers it)."""
    sent: list[tuple[int, int, datetime]] = []

    def record(rows, *, handed):
        assert all(Reminder.objects.filter(pk=pk, enqueued_at=handed).exists() for pk, _, _ in rows)
        sent.extend(rows)
        return len(rows)

    monkeypatch.setattr(reminders, "enqueue_etas", record)
    monkeypatch.setattr(notify_module, "_kick_outbox", lambda: None)
    monkeypatch.setattr(notify_module, "_kick_webhooks", lambda: None)
    return sent


def declare(actor, severity=Severity.SEV2, **kwargs):
    return services.incident_declare(
        actor=actor, title="Checkout charged twice", scenario="outage", severity=severity, **kwargs
    )


def first_response(incident) -> Deadline:
    return Deadline.objects.get(incident=incident, key="first_response", state=DeadlineState.OPEN)


def pending(deadline: Deadline) -> dict[str, datetime]:
    return {
        r.kind: r.due_at
        for r in Reminder.objects.filter(
            deadline=deadline, state=ReminderState.PENDING, version=deadline.version
        )
    }
