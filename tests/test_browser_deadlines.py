"""Deadlines in real Chromium: a countdown runs to zero, the panel turns overdue, the reminder and the
escalation arrive live (panel over the room's stream, the commander's bell in the top bar), and a snooze with
a reason works inline — with not one CSP violation."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from playwright.sync_api import Browser, expect

from incidents.models import Deadline, DeadlineKind, OrgRole, Reminder, ReminderKind
from incidents.services import deadlines as dl
from incidents.services import reminders
from tests.browser import csp_violations, log_in, settled, watch
from tests.factories import IncidentFactory, UserFactory, give_role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
LIVE = 10_000  # ms


class Sweeper:
    """Stands in for beat: sweeps every 200 ms in a thread (the Celery path has its own tests)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                reminders.sweep_reminders(enqueue=False)
                time.sleep(0.2)
        finally:
            connection.close()

    def __enter__(self) -> Sweeper:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def test_countdown_hits_zero_panel_turns_overdue_and_the_commanders_bell_rings(browser: Browser, asgi_server):
    maja = UserFactory.create(display_name="Maja Kowalska", org_role=OrgRole.CRISIS_MANAGER)
    erik = UserFactory.create(display_name="Erik Lindqvist")
    incident = IncidentFactory.create(declared_by=maja, title="Checkout charged customers twice")
    give_role(incident, erik, "drafter")
    due = timezone.now() + timedelta(seconds=8)
    task = dl.deadline_create(
        incident=incident,
        kind=DeadlineKind.TASK,
        title="Call the bank",
        owner=erik,
        due_at=due,
        remind_before_minutes=0,
        escalation_grace_minutes=1,
    )
    # Short grace for the test: escalate 2 s and 3 s after the due time instead of minutes.
    Reminder.objects.filter(deadline=task, kind=ReminderKind.ESCALATE_BACKUP).update(
        due_at=due + timedelta(seconds=2)
    )
    Reminder.objects.filter(deadline=task, kind=ReminderKind.ESCALATE_COMMANDER).update(
        due_at=due + timedelta(seconds=3)
    )
    other = dl.deadline_create(
        incident=incident,
        kind=DeadlineKind.TASK,
        title="Brief the support team",
        owner=maja,
        due_at=timezone.now() + timedelta(hours=1),
    )
    base = asgi_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = watch(page)
    log_in(page, base, maja.email)
    page.goto(f"{base}{incident.room_url}")
    expect(page.locator("#live-status")).to_have_text("Live", timeout=LIVE)
    row = page.locator(f"#deadline-{task.pk}")
    expect(row).to_contain_text("Call the bank")
    expect(row).to_contain_text("Erik Lindqvist")
    expect(row.locator("[data-countdown]")).to_contain_text("due in 0:0")
    expect(page.locator("#bell")).to_be_visible()
    expect(page.locator("#bell .bell-count")).to_have_count(0)

    with Sweeper():
        # The browser's own clock turns it red at zero, before any server round trip.
        expect(row.locator("[data-countdown]")).to_contain_text("overdue by", timeout=LIVE)
        expect(row).to_have_class(re.compile(r"\bis-overdue\b"))  # same tick as the text
        # The reminder and the escalations arrive on the stream: the panel refreshes by itself.
        expect(page.locator(f"#deadline-{task.pk} .deadline-escalated")).to_contain_text(
            "escalated to the commander", timeout=LIVE
        )
        expect(page.locator("#timeline-entries")).to_contain_text("“Call the bank” is overdue", timeout=LIVE)
        # And the commander's bell counts the escalations without a reload.
        expect(page.locator("#bell .bell-count")).to_have_text("2", timeout=LIVE)

    # Snooze the other one inline, with a reason; it goes on the timeline.
    settled(page)
    other_row = page.locator(f"#deadline-{other.pk}")
    other_row.locator("summary", has_text="Snooze or move").click()
    other_row.get_by_label("Snooze for").select_option("30")
    other_row.get_by_label("Why").fill("Support lead is in another call")
    other_row.get_by_role("button", name="Snooze", exact=True).click()
    expect(page.locator("#deadlines-panel .notice")).to_contain_text("snoozed by 30 min", timeout=LIVE)
    expect(page.locator("#timeline-entries")).to_contain_text("Support lead is in another call", timeout=LIVE)
    assert Deadline.objects.get(pk=other.pk).version == 2

    page.locator("#bell").click()
    expect(page.locator("#notification-list")).to_contain_text("escalated to you as commander")
    page.get_by_role("button", name="Mark all read").click()
    expect(page.locator("#bell .bell-count")).to_have_count(0, timeout=LIVE)
    assert csp_violations(page) == []
    assert problems == []
    page.goto("about:blank")
    context.close()
