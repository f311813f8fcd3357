"""What the system writes on the timeline is written in the organisation's language; its refusals answer the
person who clicked, in theirs (issue 19).

The organisation works in Polish (LANGUAGE_CODE "pl"); the people acting work in English (their profile and
their request). The catalogues do not hold the new sentences until the lead regenerates them, so the tests do
not look for Polish words. Instead every gettext call made while Polish is active returns its text marked
(`MARK` in front: a pseudo-catalogue), and every entry the timeline writer stores is caught with the language
active at that moment. An entry written in the organisation's language starts with the mark (its sentence
came from gettext in Polish) and was stored with Polish active; a sentence built in the actor's English, or
an f-string that no catalogue could translate, carries no mark.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone, translation

from incidents import services
from incidents.models import DeadlineKind, OrgRole, Severity, Status, TextRefused, TimelineEntry
from incidents.playbooks import declaring
from incidents.playbooks import services as pb
from incidents.playbooks.clocks import clock_notified
from incidents.playbooks.drills import drill_pause, drill_resume
from incidents.playbooks.models import IncidentClock, Playbook
from incidents.playbooks.seeds import ensure_playbooks
from incidents.services import deadlines as dl
from incidents.services import reminders, timeline
from incidents.services.deadlines import DeadlineConflict
from incidents.services.lifecycle import incident_set_aware_at
from tests.factories import UserFactory, give_role
from tests.factories_deadlines import T0, declare, quiet_broker
from tests.factories_playbooks import make_people, make_playbook
from tests.factories_statements import approve, fresh, fully_approved, new_statement, publish, submit
from tests.factories_statements import cast as cast
from tests.factories_statements import seeded as seeded
from tests.helpers import sign_in

pytestmark = pytest.mark.django_db

MARK = "⟦pl⟧"
ORG = "pl"


@dataclass(frozen=True)
class Written:
    language: str | None
    kind: str
    body: str


def _marked(real: Callable[..., str]) -> Callable[..., str]:
    """A pseudo-catalogue for the organisation's language: the English msgid (the plural chosen by n), marked.
    The real catalogue is not asked, so the sentences stay readable by these tests whatever it holds."""

    def translate(*args: Any) -> str:
        if translation.get_language() != ORG:
            return real(*args)
        if real.__name__ in ("ngettext", "npgettext"):
            singular, plural, n = args[-3:]
            return MARK + str(singular if n == 1 else plural)
        return MARK + str(args[-1])

    return translate


@pytest.fixture
def written(monkeypatch, settings) -> list[Written]:
    """The organisation speaks Polish; every entry stored from here on, with the language active when the
    writer was called."""
    settings.LANGUAGE_CODE = ORG
    # Django's gettext functions, lazy ones and the templates' {% translate %} all go through this backend.
    backend = vars(translation)["_trans"]
    for name in ("gettext", "ngettext", "pgettext", "npgettext"):
        monkeypatch.setattr(backend, name, _marked(getattr(backend, name)))
    entries: list[Written] = []
    insert = timeline._insert

    def spy(**kwargs: Any) -> Any:
        entries.append(Written(translation.get_language(), kwargs["kind"], kwargs["body"]))
        return insert(**kwargs)

    monkeypatch.setattr(timeline, "_insert", spy)
    return entries


@pytest.fixture
def english(db):
    """A crisis manager who works in English."""
    return UserFactory.create(display_name="Mia Manager", org_role=OrgRole.CRISIS_MANAGER, language="en")


@pytest.fixture
def quiet(monkeypatch):
    """No Celery: reminders' ETA hand-overs are recorded, not sent."""
    return quiet_broker(monkeypatch)


def in_org_language(entries: list[Written], *kinds: str) -> None:
    """Every entry was built, and stored, with the organisation's language active; and the expected kinds
    were among them (an action that wrote nothing proves nothing)."""
    assert entries
    assert set(kinds) <= {e.kind for e in entries}, entries
    for entry in entries:
        assert entry.language == ORG, entry
        assert entry.body.startswith(MARK), entry


# --- lifecycle ---------------------------------------------------------------------------------------------


def test_declaring_and_changing_status_severity_and_awareness_write_in_the_organisations_language(
    written, english
):
    with translation.override("en"):  # the actor's request
        incident = declare(english, is_drill=True, is_restricted=True, drill_speed=5)
        services.incident_change_status(
            incident=incident, actor=english, new_status=Status.ASSESSING, note="Checking reports"
        )
        services.incident_change_severity(incident=incident, actor=english, new_severity=Severity.SEV1)
        incident_set_aware_at(
            incident=incident, actor=english, aware_at=timezone.now() - timedelta(minutes=5)
        )
        incident_set_aware_at(incident=incident, actor=english, aware_at=None)
        declare(english)  # a real one, open to everyone
    in_org_language(written, TimelineEntry.Kind.STATUS, TimelineEntry.Kind.SEVERITY)
    # What the person typed stays as typed, after the translated words.
    assert written[1].body.endswith("— “Checking reports”")
    assert len(written) == 6


def test_changing_the_restriction_from_the_room_writes_in_the_organisations_language(
    client, written, english
):
    with translation.override("en"):
        incident = declare(english)
    written.clear()
    sign_in(client, english)  # just verified: the step-up passes
    url = reverse("incidents:change-restriction", args=[incident.code])
    for visibility, expected in (("restricted", "open"), ("open", "restricted")):
        response = client.post(
            url,
            {"visibility": visibility, "expected": expected, "reason": "An employee is named"},
            HTTP_HX_REQUEST="true",
            HTTP_ACCEPT_LANGUAGE="en",
        )
        assert response.status_code == 200
    in_org_language(written, TimelineEntry.Kind.STATUS)
    assert len(written) == 2
    assert all(e.body.endswith("“An employee is named”") for e in written)


# --- team, tasks and reminders -------------------------------------------------------------------------------


def test_team_changes_and_tasks_added_moved_snoozed_and_done_write_in_the_organisations_language(
    written, english, quiet
):
    owner = UserFactory.create(display_name="Olle Owner", language="en")
    with translation.override("en"):
        incident = declare(english)
        give_role(incident, owner, "drafter", actor=english)
        now = timezone.now()
        task = dl.task_add(
            incident=incident,
            actor=english,
            title="Call the bank",
            owner=owner,
            due_at=now + timedelta(hours=1),
        )
        task = dl.deadline_reschedule(deadline=task, actor=english, due_at=now + timedelta(hours=2))
        task = dl.deadline_snooze(deadline=task, actor=english, minutes=15, reason="Bank opens at ten")
        dl.deadline_complete(deadline=task, actor=owner)
    team = [e for e in written if e.kind == TimelineEntry.Kind.TEAM]
    reminder = [e for e in written if e.kind == TimelineEntry.Kind.REMINDER]
    assert len(team) == 1
    assert len(reminder) == 4  # added, moved, snoozed, done
    in_org_language(written, TimelineEntry.Kind.TEAM, TimelineEntry.Kind.REMINDER)


def test_a_reminder_fired_by_the_sweep_writes_in_the_organisations_language(written, english, quiet):
    with time_machine.travel(T0, tick=False), translation.override("en"):
        incident = declare(english, Severity.SEV4)
        dl.deadline_create(
            incident=incident,
            kind=DeadlineKind.TASK,
            title="Brief the support team",
            due_at=T0 + timedelta(minutes=30),
            owner=english,
            remind_before_minutes=10,
        )
    written.clear()
    with time_machine.travel(T0 + timedelta(minutes=31), tick=False), translation.override("en"):
        fired = reminders.sweep_reminders(enqueue=False).fired
    assert fired >= 2  # before, and due
    in_org_language(written, TimelineEntry.Kind.REMINDER)
    assert len(written) == fired


# --- statements ---------------------------------------------------------------------------------------------


def test_a_statements_life_writes_in_the_organisations_language(written, cast):
    for person in (cast.commander, cast.drafter, cast.legal, cast.comms, cast.executive, cast.publisher):
        person.language = "en"
        person.save(update_fields=["language"])
    written.clear()
    with translation.override("en"):
        statement = submit(cast, new_statement(cast))
        approve(statement, cast.legal)
        services.statement_reject(
            statement=fresh(statement),
            actor=cast.comms,
            version_number=fresh(statement).version,
            reason="Say when refunds arrive",
        )
        statement = services.statement_save_draft(
            statement=fresh(statement),
            actor=cast.drafter,
            expected_version=fresh(statement).version,
            body="We charged some of you twice. Refunds arrive within three days.",
        )
        services.statement_comment(
            statement=statement, actor=cast.legal, version_number=fresh(statement).version, body="Fine by me"
        )
        services.statement_withdraw(
            statement=fresh(statement), actor=cast.drafter, reason="Superseded by a call"
        )
        published = fully_approved(cast)
        publish(cast, published, link="https://x.com/northwind/status/1")
        update = fully_approved(cast, supersedes=published)
        publish(cast, update)
    bodies = [e.body for e in written]
    # drafted, submitted, approved, rejected, saved, commented, withdrawn … published, superseded
    for words in ("submitted v1", "rejected v1", "saved v2", "commented on v2", "withdrew the draft"):
        assert any(words in b for b in bodies), words
    assert any("is superseded by" in b for b in bodies)
    in_org_language(written, TimelineEntry.Kind.STATEMENT)


# --- playbooks and drills -----------------------------------------------------------------------------------


def test_a_drill_from_a_playbook_writes_in_the_organisations_language(written, english, seeded):
    version = make_playbook(english, make_people()).latest()
    with time_machine.travel(T0, tick=False), translation.override("en"):
        drill = declaring.declare_from_playbook(
            actor=english, version=version, title="Checkout down", severity="sev2", is_drill=True
        ).incident
    with time_machine.travel(T0 + timedelta(seconds=61), tick=False), translation.override("en"):
        assert pb.inject_sweep() == 1
        drill_pause(incident=drill, actor=english)
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False), translation.override("en"):
        drill_resume(incident=drill, actor=english)
    kinds = [e.kind for e in written]
    assert kinds.count(TimelineEntry.Kind.EXTERNAL) == 1  # the inject
    assert any("DRILL — Declared from the playbook" in e.body for e in written)
    in_org_language(written, TimelineEntry.Kind.STATUS, TimelineEntry.Kind.EXTERNAL)


def test_a_regulatory_notification_recorded_writes_in_the_organisations_language(written, english, seeded):
    ensure_playbooks()
    with translation.override("en"):
        incident = declaring.declare_from_playbook(
            actor=english,
            version=Playbook.objects.get(name="Data breach").latest(),
            title="Customer records exposed",
            severity="sev1",
        ).incident
        written.clear()
        clock_notified(
            clock=IncidentClock.objects.get(incident=incident), actor=english, reference="IMY-2026-1234"
        )
    in_org_language(written, TimelineEntry.Kind.STATUS)
    assert "IMY-2026-1234" in written[-1].body


# --- refusals: in the language of whoever clicked ------------------------------------------------------------


def test_a_refusal_is_translated_for_the_person_who_clicked_not_for_the_organisation(written, cast):
    statement = submit(cast, new_statement(cast))
    count = len(written)
    too_long = "x" * 2001
    with translation.override("pl"), pytest.raises(TextRefused) as polish:
        services.statement_reject(
            statement=fresh(statement), actor=cast.legal, version_number=1, reason=too_long
        )
    assert str(polish.value).startswith(MARK)  # through gettext, at raise time, in Polish
    assert "2\xa0000" in str(polish.value)  # the limit written as Polish writes numbers
    with translation.override("en"), pytest.raises(TextRefused) as english:
        services.statement_reject(
            statement=fresh(statement), actor=cast.legal, version_number=1, reason=too_long
        )
    # The organisation speaks Polish, but the answer goes to an English-speaking person.
    assert str(english.value) == "Keep the reason under 2,000 characters."
    assert len(written) == count  # nothing written


def test_a_stale_deadline_is_refused_in_the_askers_language(written, english, quiet):
    with translation.override("en"):
        incident = declare(english)
        task = dl.task_add(
            incident=incident,
            actor=english,
            title="Call the bank",
            owner=english,
            due_at=timezone.now() + timedelta(hours=1),
        )
    count = len(written)
    with translation.override("pl"), pytest.raises(DeadlineConflict) as refused:
        dl.deadline_complete(deadline=task, actor=english, expected_version=task.version + 1)
    assert str(refused.value).startswith(MARK + "“Call the bank”")
    assert len(written) == count  # nothing written
