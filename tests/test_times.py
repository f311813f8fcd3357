"""One time zone per reader (issue #15: "reminders and snooze messages in UTC, panels in CET, notifications in
MSK with the due time in UTC"). A stored text states a moment as a stamp; a notification and its e-mail say
it in the recipient's zone, a webhook in the organisation's, a timeline entry in each viewer's (its fragment
carries <time data-local>), the replay and a status note on the server for their viewer; and a typed time
that rolls over to tomorrow says so before anything is saved."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.models import (
    Deadline,
    DeadlineKind,
    Notification,
    OutboundEmail,
    Severity,
    TimelineEntry,
    WebhookDelivery,
    WebhookEndpoint,
)
from incidents.services import deadlines as dl
from incidents.services import reminders
from incidents.services.timeline import render_body
from incidents.timetext import for_zone, local, public_time, stamp, stamps_to_html
from tests.factories import UserFactory, give_role
from tests.factories_deadlines import DEADLINE_TABLES, T0, quiet_broker
from tests.helpers import snapshot

EVENING = datetime(2026, 3, 2, 20, 19, tzinfo=UTC)  # 21:19 in Warsaw (CET)


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    quiet_broker(monkeypatch)


def test_stamps_read_back_in_any_zone():
    at = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert stamp(at) == "2026-03-02 09:30 UTC"
    assert stamp(at.astimezone(ZoneInfo("Asia/Tokyo"))) == "2026-03-02 09:30 UTC"
    text = f"Due at {stamp(at)} (in 10 min)."
    assert for_zone(text, ZoneInfo("Europe/Moscow")) == "Due at 2 Mar, 12:30 MSK (in 10 min)."
    assert for_zone(text, ZoneInfo("America/New_York")) == "Due at 2 Mar, 04:30 EST (in 10 min)."
    assert for_zone("on 2026-02-31 10:00 UTC", UTC) == "on 2026-02-31 10:00 UTC"  # not a moment: as it is
    assert local(at, ZoneInfo("Europe/Warsaw"), date=False) == "10:30 CET"
    # A public promise names the day when it is not the day it is said, never "tomorrow".
    stockholm = ZoneInfo("Europe/Stockholm")
    assert public_time(at, stockholm, said_at=at - timedelta(hours=2)) == "10:30 CET"
    assert public_time(at + timedelta(days=1), stockholm, said_at=at) == "10:30 CET on 3 March"


def test_a_stamp_in_an_entry_becomes_a_time_for_the_viewers_zone_and_stays_escaped():
    html = str(render_body("<b>Moved</b> to 2026-03-02 09:30 UTC, see https://example.com/x"))
    assert '<time datetime="2026-03-02T09:30:00+00:00" data-local="">2026-03-02 09:30 UTC</time>' in html
    assert "&lt;b&gt;Moved&lt;/b&gt;" in html
    assert 'href="https://example.com/x"' in html
    assert stamps_to_html("2026-13-02 09:30 UTC") == "2026-13-02 09:30 UTC"  # no such month: untouched


@pytest.mark.django_db
def test_a_reminder_says_its_time_in_each_readers_zone(manager, settings):
    settings.TIME_ZONE = "Europe/Stockholm"  # the organisation's: the webhook channel's
    WebhookEndpoint.objects.create(name="Slack", url="https://hooks.example.com/x", secret="s")
    sofia = UserFactory.create(display_name="Sofia", time_zone="Europe/Moscow")
    daniel = UserFactory.create(display_name="Daniel", time_zone="America/New_York")
    with time_machine.travel(T0, tick=False):
        incident = services.incident_declare(
            actor=manager, title="Checkout", scenario="outage", severity=Severity.SEV4
        )
        give_role(incident, sofia, "drafter")
        give_role(incident, daniel, "drafter")
        for owner in (sofia, daniel):
            dl.deadline_create(
                incident=incident,
                kind=DeadlineKind.TASK,
                title=f"Brief support ({owner})",
                due_at=T0 + timedelta(minutes=30),
                owner=owner,
                remind_before_minutes=10,
            )
    with time_machine.travel(T0 + timedelta(minutes=20), tick=False):
        reminders.sweep_reminders(enqueue=False)
    moscow = Notification.objects.get(recipient=sofia, key__startswith="reminder:").text
    new_york = Notification.objects.get(recipient=daniel, key__startswith="reminder:").text
    assert "is due at 2 Mar, 12:30 MSK (in 10 min)" in moscow
    assert "is due at 2 Mar, 04:30 EST (in 10 min)" in new_york
    assert "UTC" not in moscow + new_york
    mail = OutboundEmail.objects.get(to=sofia.email, key__startswith="reminder:").body
    assert "is due at 2 Mar, 12:30 MSK" in mail
    hooks = [d.payload["text"] for d in WebhookDelivery.objects.all()]
    assert hooks
    assert all("is due at 2 Mar, 10:30 CET" in text for text in hooks)
    entry = TimelineEntry.objects.filter(incident=incident, kind="reminder").latest("seq")
    assert "is due at 2026-03-02 09:30 UTC" in entry.body  # shared: stored as the stamp
    assert '<time datetime="2026-03-02T09:30:00+00:00" data-local="">' in entry.html  # each viewer's zone


@pytest.mark.django_db
def test_snoozing_and_moving_write_times_each_viewer_reads_in_their_zone(manager):
    with time_machine.travel(T0, tick=False):
        incident = services.incident_declare(
            actor=manager, title="Checkout", scenario="outage", severity=Severity.SEV2
        )
        deadline = Deadline.objects.get(incident=incident, key="first_response")
        dl.deadline_snooze(deadline=deadline, actor=manager, minutes=15, reason="waiting for Legal")
        snoozed = TimelineEntry.objects.filter(incident=incident, kind="reminder").latest("seq")
        deadline.refresh_from_db()
        dl.deadline_reschedule(deadline=deadline, actor=manager, due_at=T0 + timedelta(hours=3))
        moved = TimelineEntry.objects.filter(incident=incident, kind="reminder").latest("seq")
    assert "now due 2026-03-02 10:15 UTC" in snoozed.body
    assert 'datetime="2026-03-02T10:15:00+00:00" data-local' in snoozed.html
    assert moved.html.count("data-local") >= 3  # the entry's own time, from and to


def test_the_replay_and_status_notes_restate_stamps_for_their_viewer():
    template = Template("{% load warroom %}{{ text|local_stamps }}")
    with timezone.override(ZoneInfo("Europe/Moscow")):
        said = template.render(Context({"text": "Superseded, published 2026-03-02 09:30 UTC. <x>"}))
    assert said == "Superseded, published 2 Mar, 12:30 MSK. &lt;x&gt;"


# --- typed times that roll over ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_deadline_moved_to_a_time_that_has_passed_today_asks_before_it_is_saved(manager, manager_client):
    with time_machine.travel(EVENING, tick=False):
        incident = services.incident_declare(
            actor=manager, title="Checkout", scenario="outage", severity=Severity.SEV2
        )
        deadline = Deadline.objects.get(incident=incident, key="first_response")
        move = reverse("incidents:deadline-reschedule", args=[incident.code, deadline.pk])
        before = snapshot(DEADLINE_TABLES)
        asked = manager_client.post(move, {"version": 1, "due_time": "08:00"}, HTTP_HX_REQUEST="true")
        assert asked.status_code == 422
        html = asked.content.decode()
        assert "08:00 typed at 21:19 → tomorrow, 3 Mar, 08:00 CET — is that what you mean?" in html
        assert re.search(rf'data-when-confirm="reschedule-{deadline.pk}"', html)
        assert snapshot(DEADLINE_TABLES) == before
        done = manager_client.post(
            move, {"version": 1, "due_time": "08:00", "due_tomorrow": "on"}, HTTP_HX_REQUEST="true"
        )
        assert done.status_code == 200
        deadline.refresh_from_db()
        assert deadline.due_at == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)
        # With the day given there is nothing to ask; later today, nothing either.
        dated = manager_client.post(
            move, {"version": 2, "due_time": "09:00", "due_date": "2026-03-04"}, HTTP_HX_REQUEST="true"
        )
        assert dated.status_code == 200
        deadline.refresh_from_db()
        assert deadline.due_at == datetime(2026, 3, 4, 8, 0, tzinfo=UTC)
        later = manager_client.post(move, {"version": 3, "due_time": "23:30"}, HTTP_HX_REQUEST="true")
        assert later.status_code == 200
        deadline.refresh_from_db()
        assert deadline.due_at == datetime(2026, 3, 2, 22, 30, tzinfo=UTC)


@pytest.mark.django_db
def test_a_task_due_at_a_time_alone_is_the_next_such_time(manager, manager_client, member):
    with time_machine.travel(EVENING, tick=False):
        incident = services.incident_declare(
            actor=manager, title="Checkout", scenario="outage", severity=Severity.SEV2
        )
        give_role(incident, member, "drafter")
        add = reverse("incidents:deadline-add", args=[incident.code])
        before = snapshot(DEADLINE_TABLES)
        for data, said in [
            ({"title": "Call", "owner": member.pk, "due_time": "07:30"}, "07:30 typed at 21:19 → tomorrow"),
            ({"title": "Call", "owner": member.pk, "due_time": "soon"}, "Give the time as HH:MM"),
            ({"title": "Call", "owner": member.pk}, "Choose when it is due."),
            (
                {"title": "Call", "owner": member.pk, "due_time": "07:30", "due_date": "2026-03-01"},
                "in the future",
            ),
        ]:
            response = manager_client.post(add, data, HTTP_HX_REQUEST="true")
            assert response.status_code == 422, said
            assert said in response.content.decode()
        assert snapshot(DEADLINE_TABLES) == before
        response = manager_client.post(
            add, {"title": "Call", "owner": member.pk, "due_time": "22:00"}, HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 200
    task = Deadline.objects.get(incident=incident, kind=DeadlineKind.TASK)
    assert task.due_at == datetime(2026, 3, 2, 21, 0, tzinfo=UTC)
