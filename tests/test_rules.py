"""Every permission rule is checked by the service, under the incident's lock (incidents/rules.py).

For each forbidden action: the person was allowed when the page was loaded, their role changes before
they click, and the click is refused by the service (NotAllowed, 403) with nothing changed. Once through
the service with the incident the page was built from, once end to end: the click passes the view's early
check while the role change is still uncommitted and waits for the incident's lock in the service, which
sees the new roles. The same actions without the role change go through (the rules refuse only what they
must). And the pages offer exactly what the rules allow.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.models import (
    Deadline,
    DeadlineKind,
    Incident,
    IncidentRole,
    NotAllowed,
    OrgRole,
    RoleAssignment,
    Severity,
    User,
)
from incidents.permissions import get_incident_for
from incidents.rules import may_act_on_deadline, may_change_assignment, may_change_status
from incidents.services import deadlines as dl
from incidents.services import reminders
from incidents.views.team import team_context
from tests.factories import UserFactory, give_role
from tests.factories_deadlines import notify_module
from tests.helpers import snapshot

TABLES = [
    "incidents_incident",
    "incidents_incidentchange",
    "incidents_roleassignment",
    "incidents_incidentuserobjectpermission",
    "incidents_teamevent",
    "incidents_timelineentry",
    "incidents_deadline",
    "incidents_reminder",
    "incidents_notification",
    "incidents_outboundemail",
]


@pytest.fixture(autouse=True)
def _quiet_broker(monkeypatch):
    monkeypatch.setattr(reminders, "enqueue_etas", lambda rows, *, handed: 0)
    monkeypatch.setattr(notify_module, "_kick_outbox", lambda: None)
    monkeypatch.setattr(notify_module, "_kick_webhooks", lambda: None)


def role(slug: str) -> IncidentRole:
    return IncidentRole.objects.get(slug=slug)


def held(incident: Incident, user: User, slug: str) -> RoleAssignment:
    return RoleAssignment.objects.current().get(incident=incident, user=user, role__slug=slug)


def in_three_hours() -> str:
    return (timezone.localtime() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")


@dataclass
class Case:
    """One action: who does it (`actor`, allowed when the page loads), the role change that takes it away
    (`change`, made by the commander), the action through the service with the page's incident, and the
    same click as a POST."""

    incident: Incident
    actor: User
    change: Callable[[], object]
    service: Callable[[Incident], object]
    url: str
    data: dict[str, Any]


def _team(manager: User) -> tuple[Incident, User, User, User]:
    """An incident Maja commands; the actor is deputy (and observer, so stays on the team when the deputy
    role goes); a drafter whose role others might act on; a newcomer to add or hand over to."""
    incident = services.incident_declare(
        actor=manager, title="Checkout charged twice", scenario="outage", severity=Severity.SEV2
    )
    actor = UserFactory.create(display_name="Dana Deputy")
    give_role(incident, actor, "deputy")
    give_role(incident, actor, "observer")
    drafter = UserFactory.create(display_name="Drew Drafter")
    give_role(incident, drafter, "drafter")
    newcomer = UserFactory.create(display_name="Nell Newcomer")
    return incident, actor, drafter, newcomer


def _lose(incident: Incident, manager: User, user: User, slug: str) -> Callable[[], object]:
    return lambda: services.team_remove_role(
        incident=incident, actor=manager, assignment=held(incident, user, slug), note="reorganised"
    )


def _status(manager: User) -> Case:
    incident, actor, _, _ = _team(manager)
    return Case(
        incident,
        actor,
        _lose(incident, manager, actor, "deputy"),
        lambda page: services.incident_change_status(
            incident=page, actor=actor, new_status="assessing", expected_status="detected"
        ),
        reverse("incidents:change-status", args=[incident.code]),
        {"status": "assessing", "expected": "detected"},
    )


def _severity(manager: User) -> Case:
    incident, actor, _, _ = _team(manager)
    return Case(
        incident,
        actor,
        _lose(incident, manager, actor, "deputy"),
        lambda page: services.incident_change_severity(
            incident=page, actor=actor, new_severity="sev1", expected_severity="sev2"
        ),
        reverse("incidents:change-severity", args=[incident.code]),
        {"severity": "sev1", "expected": "sev2"},
    )


def _team_add(manager: User) -> Case:
    incident, actor, _, newcomer = _team(manager)
    return Case(
        incident,
        actor,
        _lose(incident, manager, actor, "deputy"),
        lambda page: services.team_add_member(incident=page, actor=actor, user=newcomer, role=role("scribe")),
        reverse("incidents:team-add", args=[incident.code]),
        {"person": newcomer.email, "role": role("scribe").pk},
    )


def _team_remove(manager: User) -> Case:
    incident, actor, drafter, _ = _team(manager)
    target = held(incident, drafter, "drafter")
    return Case(
        incident,
        actor,
        _lose(incident, manager, actor, "deputy"),
        lambda page: services.team_remove_role(incident=page, actor=actor, assignment=target),
        reverse("incidents:team-remove", args=[incident.code, target.pk]),
        {},
    )


def _handover(manager: User) -> Case:
    incident, actor, drafter, newcomer = _team(manager)
    target = held(incident, drafter, "drafter")
    return Case(
        incident,
        actor,
        _lose(incident, manager, actor, "deputy"),
        lambda page: services.team_handover(incident=page, actor=actor, assignment=target, to_user=newcomer),
        reverse("incidents:team-handover", args=[incident.code, target.pk]),
        {"to": newcomer.email},
    )


def _backup(manager: User) -> Case:
    incident, actor, drafter, newcomer = _team(manager)
    target = held(incident, drafter, "drafter")
    return Case(
        incident,
        actor,
        _lose(incident, manager, actor, "deputy"),
        lambda page: services.team_set_backup(incident=page, actor=actor, assignment=target, backup=newcomer),
        reverse("incidents:team-backup", args=[incident.code, target.pk]),
        {"backup": newcomer.email},
    )


def _task_add(manager: User) -> Case:
    incident, _, drafter, _ = _team(manager)
    scribe = UserFactory.create(display_name="Sam Scribe")  # manages deadlines, nothing else
    give_role(incident, scribe, "scribe")
    give_role(incident, scribe, "observer")
    due = timezone.now() + timedelta(hours=3)
    return Case(
        incident,
        scribe,
        _lose(incident, manager, scribe, "scribe"),
        lambda page: dl.task_add(
            incident=page, actor=scribe, title="Call the bank", owner=drafter, due_at=due
        ),
        reverse("incidents:deadline-add", args=[incident.code]),
        {"title": "Call the bank", "owner": drafter.pk, "due_at": in_three_hours()},
    )


def _deadline(manager: User, action: str) -> Case:
    """A deadline for whoever holds Legal (who may not manage deadlines): Legal is handed to someone else."""
    incident, _, _, newcomer = _team(manager)
    lawyer = UserFactory.create(display_name="Lee Legal")
    give_role(incident, lawyer, "legal")
    deadline = dl.deadline_create(
        incident=incident,
        kind=DeadlineKind.TASK,
        title="Check the wording",
        due_at=timezone.now() + timedelta(hours=1),
        role=role("legal"),
    )
    change = lambda: services.team_handover(  # noqa: E731
        incident=incident, actor=manager, assignment=held(incident, lawyer, "legal"), to_user=newcomer
    )
    later = timezone.now() + timedelta(hours=3)
    service: Callable[[Incident], object]
    if action == "complete":
        service = lambda page: dl.deadline_complete(deadline=deadline, actor=lawyer, expected_version=1)  # noqa: E731
        data: dict[str, Any] = {"version": 1}
    elif action == "snooze":
        service = lambda page: dl.deadline_snooze(  # noqa: E731
            deadline=deadline, actor=lawyer, minutes=15, reason="Waiting", expected_version=1
        )
        data = {"version": 1, "minutes": 15, "reason": "Waiting"}
    else:
        service = lambda page: dl.deadline_reschedule(  # noqa: E731
            deadline=deadline, actor=lawyer, due_at=later, expected_version=1
        )
        data = {"version": 1, "due_at": in_three_hours()}
    url = reverse(f"incidents:deadline-{action}", args=[incident.code, deadline.pk])
    return Case(incident, lawyer, change, service, url, data)


CASES: dict[str, Callable[[User], Case]] = {
    "status": _status,
    "severity": _severity,
    "team-add": _team_add,
    "team-remove": _team_remove,
    "handover-of-another": _handover,
    "backup-of-another": _backup,
    "task-add": _task_add,
    "deadline-complete": lambda m: _deadline(m, "complete"),
    "deadline-snooze": lambda m: _deadline(m, "snooze"),
    "deadline-reschedule": lambda m: _deadline(m, "reschedule"),
}


def manager_user() -> User:
    return UserFactory.create(display_name="Maja Manager", org_role=OrgRole.CRISIS_MANAGER)


# --- through the service ------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(CASES))
def test_a_role_lost_after_the_page_loaded_is_refused_by_the_service_and_changes_nothing(name):
    case = CASES[name](manager_user())
    page = get_incident_for(case.actor, case.incident.code)  # what the page was built from
    case.change()
    before = snapshot(TABLES)
    with pytest.raises(NotAllowed):
        case.service(page)
    assert snapshot(TABLES) == before


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(CASES))
def test_without_the_role_change_the_same_action_goes_through(name):
    case = CASES[name](manager_user())
    page = get_incident_for(case.actor, case.incident.code)
    before = snapshot(TABLES)
    case.service(page)
    assert snapshot(TABLES) != before


# --- end to end: the click waits for the lock while the role change commits --------------------------------


def _waiting_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def click_behind_a_change(incident: Incident, change: Callable[[], object], click: Callable[[], Any]) -> Any:
    """Another connection locks the incident and makes `change`; `click` (a request, in its own thread) passes
    its view's early checks — the change is not committed yet — and waits for the lock in the service; then
    the change commits. Returns the click's result and a snapshot of the tables as the change left them."""
    changed, release = threading.Event(), threading.Event()
    after: dict[str, str] = {}

    def hold() -> None:
        from django.db import connection as holder_connection

        try:
            with transaction.atomic():
                Incident.objects.select_for_update().get(pk=incident.pk)
                change()
                after.update(snapshot(TABLES))  # this transaction sees its own change
                changed.set()
                release.wait(10)
        finally:
            holder_connection.close()

    def run_click() -> Any:
        from django.db import connection as click_connection

        try:
            return click()
        finally:
            click_connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert changed.wait(10), "the role change never happened"
        with ThreadPoolExecutor(1) as pool:
            result = pool.submit(run_click)
            deadline = timezone.now() + timedelta(seconds=10)
            while not _waiting_for_a_lock() and not result.done():
                assert timezone.now() < deadline, "the click never waited for the incident"
                threading.Event().wait(0.02)
            release.set()
            return result.result(timeout=10), after
    finally:
        release.set()
        holder.join(10)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", list(CASES))
def test_a_click_racing_a_role_change_is_refused_under_the_lock(name):
    case = CASES[name](manager_user())
    client = Client()
    client.force_login(case.actor)
    assert client.get(reverse("incidents:room", args=[case.incident.code])).status_code == 200  # page load
    response, after = click_behind_a_change(
        case.incident, case.change, lambda: client.post(case.url, case.data, HTTP_HX_REQUEST="true")
    )
    assert response.status_code == 403, response.content
    assert snapshot(TABLES) == after  # the role change, and nothing from the click


# --- what the pages offer is what the rules allow ---------------------------------------------------------


@pytest.mark.django_db
def test_the_team_panel_offers_hand_over_and_backup_for_own_roles_and_everything_to_managers(manager):
    incident, _, drafter, _ = _team(manager)
    legal = UserFactory.create()
    give_role(incident, legal, "legal")
    viewer = get_incident_for(legal, incident.code)
    lines = {
        (m["user"].pk, line.assignment.role.slug): line
        for m in team_context(legal, viewer)["members"]
        for line in m["lines"]
    }
    own = lines[(legal.pk, "legal")]
    assert (own.may_change, own.may_remove) == (True, False)
    other = lines[(drafter.pk, "drafter")]
    assert (other.may_change, other.may_remove) == (False, False)
    as_manager = get_incident_for(manager, incident.code)
    manager_lines = [line for m in team_context(manager, as_manager)["members"] for line in m["lines"]]
    assert all(line.may_change for line in manager_lines)
    assert {line.assignment.role.slug for line in manager_lines if not line.may_remove} == {"commander"}


@pytest.mark.django_db
def test_the_stay_on_choice_defaults_to_observer_and_is_offered_for_command_and_single_roles(manager):
    incident, actor, drafter, _ = _team(manager)
    context = team_context(manager, get_incident_for(manager, incident.code))
    assert context["stay_default"] == role("observer").pk
    assert all(not r.is_command for r in context["stay_roles"])
    offers = {
        (m["user"].pk, line.assignment.role.slug): line.offers_stay
        for m in context["members"]
        for line in m["lines"]
    }
    assert offers[(manager.pk, "commander")] is True
    assert offers[(drafter.pk, "drafter")] is True  # their only role
    assert offers[(actor.pk, "deputy")] is False  # they stay on as observer anyway


def test_the_rules_themselves():
    holder, other = User(pk=1), User(pk=2)
    mine = RoleAssignment(user_id=1)
    assert may_change_status(perms={"change_status"})
    assert not may_change_status(perms={"view_incident", "manage_team"})
    assert may_change_assignment(actor=holder, perms=set(), assignment=mine)
    assert not may_change_assignment(actor=other, perms={"change_status"}, assignment=mine)
    assert may_change_assignment(actor=other, perms={"manage_team"}, assignment=mine)
    assert may_act_on_deadline(actor=holder, perms=set(), responsible=[holder])
    assert not may_act_on_deadline(actor=other, perms={"manage_team"}, responsible=[holder])
    assert may_act_on_deadline(actor=other, perms={"manage_deadlines"}, responsible=[holder])
    with pytest.raises(NotAllowed, match="status or severity"):
        may_change_status.check(perms=set())


@pytest.mark.django_db
def test_a_deadline_of_a_role_is_for_its_holder_now(manager):
    case = _deadline(manager, "complete")
    deadline = Deadline.objects.get(incident=case.incident, title="Check the wording")
    assert case.actor in reminders.responsible(deadline).people
    case.change()
    assert case.actor not in reminders.responsible(deadline).people
