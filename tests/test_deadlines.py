"""Deadlines: schedule logic (time-machine) — SLAs, policy, the system deadlines that follow statements and
the lifecycle, snoozing and moving — and the room panel's views (bad input, stale versions, permissions),
notifications and my due items.

Firing and escalation are in test_reminders.py, the real-worker integration tests in
test_deadlines_celery.py, the SMTP/webhook ones in test_deadlines_outbox.py, who may act on a deadline in
test_rules.py and the browser test in test_browser_deadlines.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.models import (
    ApprovalChainTemplate,
    ApprovalStepTemplate,
    Deadline,
    DeadlineKind,
    DeadlineState,
    IncidentRole,
    Notification,
    Reminder,
    ReminderKind,
    ReminderState,
    ResponsePolicy,
    Severity,
    StatementTemplate,
    TimelineEntry,
)
from incidents.models.statement_seeds import ensure_statement_seeds
from incidents.services import checklist
from incidents.services import deadlines as dl
from incidents.services.reminders import responsible
from incidents.views.deadlines import promised_time
from tests.factories import give_role
from tests.factories_deadlines import DEADLINE_TABLES, T0, declare, first_response, pending, quiet_broker
from tests.factories_statements import approve, fully_approved, make_cast, new_statement, publish, submit
from tests.helpers import snapshot


@pytest.fixture
def seeded(db):
    ensure_statement_seeds(ApprovalChainTemplate, ApprovalStepTemplate, StatementTemplate, IncidentRole)


@pytest.fixture(autouse=True)
def eta_sent(monkeypatch):
    return quiet_broker(monkeypatch)


# --- schedule logic -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "minutes"),
    [(Severity.SEV1, 30), (Severity.SEV2, 60), (Severity.SEV3, 240), (Severity.SEV4, 1440)],
)
def test_declaring_sets_the_first_response_sla_per_severity(manager, severity, minutes):
    with time_machine.travel(T0, tick=False):
        incident = declare(manager, severity)
    deadline = first_response(incident)
    assert deadline.due_at == T0 + timedelta(minutes=minutes)
    assert deadline.kind == DeadlineKind.FIRST_RESPONSE
    assert pending(deadline) == {
        ReminderKind.BEFORE: T0 + timedelta(minutes=minutes - 10),
        ReminderKind.DUE: T0 + timedelta(minutes=minutes),
        ReminderKind.ESCALATE_BACKUP: T0 + timedelta(minutes=minutes + 10),
        ReminderKind.ESCALATE_COMMANDER: T0 + timedelta(minutes=minutes + 20),
    }


def test_policies_are_seeded_and_admin_edits_apply(manager):
    assert {p.severity: p.first_response_minutes for p in ResponsePolicy.objects.all()} == {
        "sev1": 30,
        "sev2": 60,
        "sev3": 240,
        "sev4": 1440,
    }
    ResponsePolicy.objects.filter(severity="sev2").update(first_response_minutes=45, remind_before_minutes=5)
    with time_machine.travel(T0, tick=False):
        incident = declare(manager)
    deadline = first_response(incident)
    assert deadline.due_at == T0 + timedelta(minutes=45)
    assert pending(deadline)[ReminderKind.BEFORE] == T0 + timedelta(minutes=40)


def test_severity_change_moves_a_policy_derived_first_response_but_not_a_moved_one(manager):
    with time_machine.travel(T0, tick=False):
        incident = declare(manager, Severity.SEV3)
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        incident = services.incident_change_severity(incident=incident, actor=manager, new_severity="sev1")
    deadline = first_response(incident)
    assert deadline.due_at == T0 + timedelta(minutes=30)  # from declaration, the SEV1 SLA
    assert deadline.version == 2
    assert pending(deadline)[ReminderKind.DUE] == T0 + timedelta(minutes=30)
    assert not Reminder.objects.filter(deadline=deadline, version=1, state=ReminderState.PENDING).exists()
    # Someone moved it by hand: their decision stands when the severity changes again.
    with time_machine.travel(T0 + timedelta(minutes=6), tick=False):
        dl.deadline_reschedule(deadline=deadline, actor=manager, due_at=T0 + timedelta(minutes=50))
        services.incident_change_severity(incident=incident, actor=manager, new_severity="sev2")
    assert first_response(incident).due_at == T0 + timedelta(minutes=50)


def test_publishing_completes_the_first_response_and_sets_the_cadence(seeded):
    with time_machine.travel(T0, tick=False):
        cast = make_cast(severity=Severity.SEV1)
        dl.on_declared(cast.incident, cast.commander)
        statement = fully_approved(cast)
    with time_machine.travel(T0 + timedelta(minutes=20), tick=False):
        publish(cast, statement)
    done = Deadline.objects.get(incident=cast.incident, key="first_response")
    assert done.state == DeadlineState.DONE
    assert done.was_met is True
    update = Deadline.objects.get(incident=cast.incident, key="update", state=DeadlineState.OPEN)
    assert update.due_at == T0 + timedelta(minutes=20 + 60)  # SEV1 cadence: 60 min after the publication
    assert update.role is not None
    assert update.role.slug == "comms-lead"
    assert responsible(update).people == [cast.comms]
    assert not Reminder.objects.filter(deadline=done, state=ReminderState.PENDING).exists()


def test_a_promised_next_update_time_becomes_the_deadline(seeded, client):
    with time_machine.travel(T0, tick=False):
        cast = make_cast(severity=Severity.SEV2)
        statement = fully_approved(cast)
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        client.force_login(cast.publisher)
        cast.publisher.time_zone = "UTC"
        cast.publisher.save(update_fields=["time_zone"])
        response = client.post(
            reverse("incidents:statement-publish", args=[cast.incident.code, statement.code]),
            {"version": 1, "channel": "x", "next_update_at": "09:45"},
        )
    assert response.status_code in (200, 302)
    update = Deadline.objects.get(incident=cast.incident, key="update", state=DeadlineState.OPEN)
    assert update.due_at == T0 + timedelta(minutes=45)
    assert "promised" in update.title


def test_promised_time_parsing():
    now = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    with timezone.override("UTC"):
        assert promised_time("", now=now) is None
        assert promised_time("23:45", now=now) == datetime(2026, 3, 2, 23, 45, tzinfo=UTC)
        assert promised_time("09:00", now=now) == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)  # tomorrow
        with pytest.raises(ValueError, match="HH:MM"):
            promised_time("half past nine", now=now)
    with timezone.override("Europe/Warsaw"):
        assert promised_time("09:00", now=datetime(2026, 3, 2, 7, 0, tzinfo=UTC)) == datetime(
            2026, 3, 2, 8, 0, tzinfo=UTC
        )


def test_a_promise_in_the_past_week_range_is_refused_and_nothing_published(seeded, client):
    cast = make_cast()
    statement = fully_approved(cast)
    client.force_login(cast.publisher)
    before = snapshot(DEADLINE_TABLES)
    response = client.post(
        reverse("incidents:statement-publish", args=[cast.incident.code, statement.code]),
        {"version": 1, "channel": "x", "next_update_at": "soon"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert "HH:MM" in response.content.decode()
    assert snapshot(DEADLINE_TABLES) == before


def test_approval_step_sla_becomes_a_deadline_for_the_steps_role_and_a_decision_completes_it(seeded):
    ApprovalStepTemplate.objects.update(sla_minutes=15)
    with time_machine.travel(T0, tick=False):
        cast = make_cast()
        statement = submit(cast, new_statement(cast))
    first = Deadline.objects.get(incident=cast.incident, kind=DeadlineKind.APPROVAL, state=DeadlineState.OPEN)
    assert first.due_at == T0 + timedelta(minutes=15)
    assert first.chain_step is not None
    assert first.chain_step.order == 1
    assert responsible(first).people == [cast.legal]
    with time_machine.travel(T0 + timedelta(minutes=3), tick=False):
        approve(statement, cast.legal)
    first.refresh_from_db()
    assert first.state == DeadlineState.DONE
    second = Deadline.objects.get(
        incident=cast.incident, kind=DeadlineKind.APPROVAL, state=DeadlineState.OPEN
    )
    assert second.chain_step is not None
    assert second.chain_step.order == 2
    assert second.due_at == T0 + timedelta(minutes=18)
    # A new version voids the chain: nobody owes a decision on the old one any more.
    services.statement_save_draft(
        statement=statement, actor=cast.drafter, expected_version=1, body="A changed holding line."
    )
    second.refresh_from_db()
    assert second.state == DeadlineState.CANCELLED


def test_many_deadlines_at_once_are_what_one_at_a_time_makes_in_a_fixed_number_of_queries(
    manager, member, django_assert_max_num_queries
):
    """`deadlines_create` (a playbook's checklist on declaring): the rows, reminders and nudged people that
    `deadline_create` makes for each; an open key is left as it is; the queries do not grow with the items."""
    one, many = declare(manager), declare(manager)
    give_role(one, member, "comms-lead")
    give_role(many, member, "comms-lead")
    comms = IncidentRole.objects.get(slug="comms-lead")
    soon, later = timezone.now() + timedelta(minutes=4), timezone.now() + timedelta(hours=2)
    items = [
        checklist.NewDeadline(title="Pause scheduled posts", due_at=soon, key="playbook-task:1"),
        checklist.NewDeadline(title="Acknowledge publicly", due_at=later, key="playbook-task:2", role=comms),
        checklist.NewDeadline(
            title="Brief support", due_at=later, key="playbook-task:3", owner=member, notes="FAQ"
        ),
    ]
    for item in items:
        dl.deadline_create(
            incident=one,
            kind=DeadlineKind.TASK,
            actor=manager,
            title=item.title,
            due_at=item.due_at,
            key=item.key,
            role=item.role,
            owner=item.owner,
            notes=item.notes,
        )
    with django_assert_max_num_queries(5):  # open keys, policy, deadlines, reminders, who answers for them
        made = checklist.deadlines_create(incident=many, kind=DeadlineKind.TASK, items=items, actor=manager)

    def shape(incident):
        return [
            (d.title, d.kind, d.owner_id, d.role_id, d.notes, d.due_at, d.remind_before_minutes, pending(d))
            for d in Deadline.objects.filter(incident=incident, kind=DeadlineKind.TASK).order_by("key")
        ]

    assert shape(many) == shape(one)
    assert [d.key for d in made] == [i.key for i in items]
    # Again, with one more: the open ones are returned as they are, only the new one is made.
    more = [*items, checklist.NewDeadline(title="Check refunds", due_at=later, key="playbook-task:4")]
    again = checklist.deadlines_create(incident=many, kind=DeadlineKind.TASK, items=more, actor=manager)
    assert [d.pk for d in again[:3]] == [d.pk for d in made]
    assert Deadline.objects.filter(incident=many, kind=DeadlineKind.TASK).count() == 4
    with django_assert_max_num_queries(1):  # every key already open: nothing to make
        assert (
            len(checklist.deadlines_create(incident=many, kind=DeadlineKind.TASK, items=more, actor=manager))
            == 4
        )


def test_resolution_opens_the_review_and_closing_ends_the_response_deadlines(manager):
    with time_machine.travel(T0, tick=False):
        incident = declare(manager)
        task = dl.deadline_create(
            incident=incident, kind=DeadlineKind.TASK, title="Brief support", due_at=T0 + timedelta(hours=2)
        )
    for status in ("assessing", "responding", "monitoring", "resolved"):
        incident = services.incident_change_status(incident=incident, actor=manager, new_status=status)
    review = Deadline.objects.get(incident=incident, key="review", state=DeadlineState.OPEN)
    assert review.kind == DeadlineKind.REVIEW
    assert review.due_at - incident.resolved_at < timedelta(days=5, seconds=5)
    services.incident_change_status(incident=incident, actor=manager, new_status="closed")
    task.refresh_from_db()
    assert task.state == DeadlineState.CANCELLED
    assert not Deadline.objects.filter(
        incident=incident, kind=DeadlineKind.FIRST_RESPONSE, state="open"
    ).exists()
    assert Deadline.objects.get(pk=review.pk).state == DeadlineState.OPEN  # the review outlives closure


def test_snooze_and_reschedule_void_the_old_reminders(manager):
    with time_machine.travel(T0, tick=False):
        incident = declare(manager)
        deadline = first_response(incident)
        snoozed = dl.deadline_snooze(deadline=deadline, actor=manager, minutes=15, reason="Waiting for Legal")
    assert snoozed.due_at == T0 + timedelta(minutes=75)
    assert snoozed.snoozed_until == snoozed.due_at
    assert pending(snoozed)[ReminderKind.DUE] == T0 + timedelta(minutes=75)
    assert set(Reminder.objects.filter(deadline=deadline, version=1).values_list("state", flat=True)) == {
        ReminderState.CANCELLED
    }
    entry = TimelineEntry.objects.filter(incident=incident, kind="reminder").latest("seq")
    assert "snoozed" in entry.body
    assert "Waiting for Legal" in entry.body
    with time_machine.travel(T0 + timedelta(minutes=80), tick=False):
        # Already overdue: a snooze counts from now, not from the missed time.
        again = dl.deadline_snooze(deadline=snoozed, actor=manager, minutes=5, reason="Still waiting")
        assert again.due_at == T0 + timedelta(minutes=85)
        moved = dl.deadline_reschedule(deadline=again, actor=manager, due_at=T0 + timedelta(hours=3))
    assert moved.version == 4
    assert pending(moved)[ReminderKind.DUE] == T0 + timedelta(hours=3)
    assert Reminder.objects.filter(deadline=deadline, state=ReminderState.PENDING).count() == 4


@pytest.mark.parametrize(
    ("minutes", "reason", "message"),
    [
        (15, "   ", "Say why"),
        (0, "x", "between 1 minute"),
        (24 * 60 + 1, "x", "between 1 minute"),
        (5, "y" * 301, "300"),
    ],
)
def test_bad_snoozes_change_nothing(manager, minutes, reason, message):
    incident = declare(manager)
    deadline = first_response(incident)
    before = snapshot(DEADLINE_TABLES)
    with pytest.raises(dl.DeadlineError, match=message):
        dl.deadline_snooze(deadline=deadline, actor=manager, minutes=minutes, reason=reason)
    assert snapshot(DEADLINE_TABLES) == before


def test_reschedule_refuses_the_past_and_stale_versions(manager):
    incident = declare(manager)
    deadline = first_response(incident)
    before = snapshot(DEADLINE_TABLES)
    with pytest.raises(dl.DeadlineError, match="future"):
        dl.deadline_reschedule(deadline=deadline, actor=manager, due_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(dl.DeadlineConflict, match="changed by someone else"):
        dl.deadline_reschedule(
            deadline=deadline, actor=manager, due_at=timezone.now() + timedelta(hours=1), expected_version=7
        )
    assert snapshot(DEADLINE_TABLES) == before


# --- views --------------------------------------------------------------------------------------------------


def panel_url(incident, name="deadlines", deadline=None):
    return reverse(f"incidents:{name}", args=[incident.code] + ([deadline.pk] if deadline else []))


def test_panel_shows_countdown_data_and_actions(manager_client, manager):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    incident = declare(manager)
    with CaptureQueriesContext(connection) as captured:
        response = manager_client.get(panel_url(incident), HTTP_HX_REQUEST="true")
    # session, user, the incident with my permissions, the team, the deadlines — the incident read once,
    # without its declarer and commander (the panel names people from the team) and not again per deadline.
    sql = [q["sql"] for q in captured.captured_queries]
    assert len(sql) == 5, sql
    reads_incident = [q for q in sql if re.search(r"\bincidents_incident\b", q)]
    assert len(reads_incident) == 1, reads_incident
    assert "incidents_user" not in reads_incident[0]
    html = response.content.decode()
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    deadline = first_response(incident)
    assert f'data-due="{deadline.due_at.isoformat()}"' in html
    assert "First public response" in html
    assert "Snooze" in html
    assert "Add a task" in html
    assert "<html" not in html
    page = manager_client.get(panel_url(incident))
    assert b"<html" in page.content  # a plain link works too


def test_complete_snooze_reschedule_through_the_panel(manager_client, manager):
    incident = declare(manager)
    deadline = first_response(incident)
    response = manager_client.post(
        panel_url(incident, "deadline-snooze", deadline),
        {"version": 1, "minutes": 15, "reason": "Waiting for the CEO"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    deadline.refresh_from_db()
    assert deadline.version == 2
    response = manager_client.post(
        panel_url(incident, "deadline-reschedule", deadline),
        {"version": 2, "due_at": (timezone.localtime() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200, response.content
    response = manager_client.post(panel_url(incident, "deadline-complete", deadline), {"version": 3})
    assert response.status_code == 302  # without htmx: back to the room
    deadline.refresh_from_db()
    assert deadline.state == DeadlineState.DONE
    assert deadline.completed_by == manager


@pytest.mark.parametrize(
    ("name", "data", "status", "message"),
    [
        ("deadline-snooze", {"version": 1, "minutes": 15, "reason": ""}, 422, "Say why"),
        ("deadline-snooze", {"version": 1, "minutes": 7, "reason": "x"}, 422, "how long"),
        ("deadline-snooze", {"version": "x", "minutes": 15, "reason": "x"}, 422, "whole number"),
        ("deadline-snooze", {"version": 9, "minutes": 15, "reason": "x"}, 409, "changed by someone else"),
        ("deadline-reschedule", {"version": 1, "due_at": "tomorrow-ish"}, 422, "date and time"),
        ("deadline-reschedule", {"version": 1, "due_at": "2020-01-01T10:00"}, 422, "future"),
        ("deadline-reschedule", {"version": 9, "due_at": "2099-01-01T10:00"}, 422, "six months"),
        ("deadline-complete", {}, 422, "out of date"),
        ("deadline-complete", {"version": 2}, 409, "changed by someone else"),
    ],
)
def test_bad_input_and_stale_versions_change_nothing(manager_client, manager, name, data, status, message):
    incident = declare(manager)
    deadline = first_response(incident)
    before = snapshot(DEADLINE_TABLES)
    response = manager_client.post(panel_url(incident, name, deadline), data, HTTP_HX_REQUEST="true")
    assert response.status_code == status
    assert message in response.content.decode()
    assert snapshot(DEADLINE_TABLES) == before


def test_completing_a_done_deadline_is_409_with_the_current_state(manager_client, manager):
    incident = declare(manager)
    deadline = first_response(incident)
    dl.deadline_complete(deadline=deadline, actor=manager)
    response = manager_client.post(
        panel_url(incident, "deadline-complete", deadline), {"version": 2}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 409
    assert "already done" in response.content.decode()


def test_permissions_403_for_a_bystander_404_for_outsiders_and_other_incidents(
    client, manager, member, outsider
):
    incident = declare(manager)
    give_role(incident, member, "observer")
    deadline = first_response(incident)
    other = declare(manager)
    secret = declare(manager, is_restricted=True)
    before = snapshot(DEADLINE_TABLES)
    client.force_login(member)  # on the team, not responsible, may not manage deadlines
    for name in ("deadline-complete", "deadline-snooze", "deadline-reschedule"):
        assert client.post(panel_url(incident, name, deadline), {"version": 1}).status_code == 403
    assert client.post(panel_url(incident, "deadline-add"), {"title": "x"}).status_code == 403
    assert client.get(panel_url(incident)).status_code == 200  # may look
    client.force_login(manager)
    assert client.post(panel_url(other, "deadline-complete", deadline), {"version": 1}).status_code == 404
    client.force_login(outsider)
    assert client.get(panel_url(secret)).status_code == 404
    assert (
        client.post(
            panel_url(secret, "deadline-complete", first_response(secret)), {"version": 1}
        ).status_code
        == 404
    )
    assert snapshot(DEADLINE_TABLES) == before


def test_the_owner_may_act_on_their_own_task_without_manage_rights(client, manager, member):
    incident = declare(manager)
    give_role(incident, member, "observer")
    task = dl.deadline_create(
        incident=incident,
        kind=DeadlineKind.TASK,
        title="Call the bank",
        owner=member,
        due_at=timezone.now() + timedelta(hours=1),
    )
    client.force_login(member)
    response = client.post(
        panel_url(incident, "deadline-complete", task), {"version": 1}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    task.refresh_from_db()
    assert task.state == DeadlineState.DONE


def test_add_task_validates_and_adds(manager_client, manager, member, outsider):
    incident = declare(manager)
    give_role(incident, member, "drafter")
    url = panel_url(incident, "deadline-add")
    future = (timezone.localtime() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")  # in any zone
    before = snapshot(DEADLINE_TABLES)
    for data, message in [
        ({"title": "", "owner": member.pk, "due_at": future}, "Say what needs doing"),
        ({"title": "Call", "owner": outsider.pk, "due_at": future}, "someone on the team"),
        ({"title": "Call", "owner": member.pk, "due_at": "2020-01-01T10:00"}, "in the future"),
    ]:
        response = manager_client.post(url, data, HTTP_HX_REQUEST="true")
        assert response.status_code == 422
        assert message in response.content.decode()
    assert snapshot(DEADLINE_TABLES) == before
    response = manager_client.post(
        url, {"title": "Call the bank", "owner": member.pk, "due_at": future}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "Call the bank" in response.content.decode()
    task = Deadline.objects.get(incident=incident, kind=DeadlineKind.TASK)
    assert task.owner == member
    assert Reminder.objects.filter(deadline=task).count() >= 3


def test_notifications_page_bell_and_mark_read(client, manager, outsider):
    incident = declare(manager)
    services.notify(user=manager, incident=incident, text="One", key="t:1", url=incident.room_url)
    services.notify(user=manager, incident=incident, text="One again", key="t:1")  # same cause: no second
    services.notify(user=manager, incident=incident, text="Two", key="t:2")
    client.force_login(manager)
    bell = client.get(reverse("incidents:notification-bell"), HTTP_HX_REQUEST="true").content.decode()
    assert "data-bell-count>2<" in bell
    assert "2 unread" in bell
    page = client.get(reverse("incidents:notifications")).content.decode()
    assert "One" in page
    assert "Two" in page
    assert "One again" not in page
    first = Notification.objects.get(key="t:1")
    response = client.post(reverse("incidents:notification-read", args=[first.pk]), {"open": "1"})
    assert response.status_code == 302
    assert response.url == incident.room_url
    assert "data-bell-count>1<" in client.get(reverse("incidents:notification-bell")).content.decode()
    client.force_login(outsider)  # someone else's notification: 404, untouched
    second = Notification.objects.get(key="t:2")
    assert client.post(reverse("incidents:notification-read", args=[second.pk])).status_code == 404
    client.force_login(manager)
    response = client.post(reverse("incidents:notifications-read-all"), HTTP_HX_REQUEST="true")
    assert response.headers["HX-Trigger"] == "notifications-changed"
    assert not Notification.objects.filter(recipient=manager, read_at__isnull=True).exists()
    assert "data-bell-count" not in client.get(reverse("incidents:notification-bell")).content.decode()


def test_dashboard_my_due_items(client, manager):
    incident = declare(manager)
    client.force_login(manager)
    html = client.get(reverse("incidents:my-due"), HTTP_HX_REQUEST="true").content.decode()
    assert "First public response" in html
    assert incident.reference in html
    assert b'id="my-due"' in client.get(reverse("incidents:dashboard")).content
