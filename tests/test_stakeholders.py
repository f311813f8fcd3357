"""Regulatory clocks from playbooks, the "became aware at" time, the stakeholder register with its contact log
and press queue, and the review's "who was told what, and who never was"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.models import Deadline, DeadlineKind, InputRefused, InvalidTransition, OrgRole, Refused
from incidents.playbooks import declaring
from incidents.playbooks.clocks import clock_notified
from incidents.playbooks.models import IncidentClock, Playbook
from incidents.playbooks.seeds import ensure_playbooks
from incidents.services.lifecycle import incident_set_aware_at
from incidents.stakeholders.models import (
    ContactEntry,
    EnquiryState,
    PressEnquiry,
    Stakeholder,
    StakeholderKind,
)
from incidents.stakeholders.services import contact_log, enquiry_add, enquiry_close, stakeholder_add
from tests.factories import IncidentFactory, UserFactory, give_role
from tests.factories_statements import cast as cast
from tests.factories_statements import fully_approved, new_statement
from tests.factories_statements import seeded as seeded

pytestmark = pytest.mark.django_db


@pytest.fixture
def breach(seeded):
    """An incident declared from the seeded data-breach playbook, detected two hours ago."""
    ensure_playbooks()
    manager = UserFactory.create(display_name="Maja Manager", org_role=OrgRole.CRISIS_MANAGER)
    playbook = Playbook.objects.get(name="Data breach")
    detected = timezone.now() - timedelta(hours=2)
    result = declaring.declare_from_playbook(
        actor=manager,
        version=playbook.latest(),
        title="Customer records exposed",
        severity="sev1",
        detected_at=detected,
        is_restricted=True,
    )
    return result.incident, manager


def test_the_data_breach_playbook_starts_a_72_hour_clock_from_awareness(breach):
    incident, _manager = breach
    (clock,) = IncidentClock.objects.filter(incident=incident)
    assert clock.basis == "GDPR Art. 33"
    assert clock.hours == 72
    deadline = clock.deadline
    assert deadline.kind == DeadlineKind.REGULATORY
    assert deadline.due_at == incident.detected_at + timedelta(hours=72)  # awareness defaults to detection
    assert deadline.role is not None
    assert deadline.role.slug == "legal"


def test_the_register_is_seeded_from_the_playbooks_contacts_once(breach):
    incident, _manager = breach
    people = {s.name: s for s in Stakeholder.objects.filter(incident=incident)}
    assert people["Data protection authority"].kind == StakeholderKind.REGULATOR
    assert people["Data protection authority"].email == "imy@imy.se"
    assert len(people) == incident.playbook_record.version.contacts.count()


def test_changing_when_we_became_aware_moves_the_clock_and_is_recorded(breach):
    incident, manager = breach
    aware = timezone.now() - timedelta(hours=80)  # learnt of it long before: the clock is already overdue
    incident_set_aware_at(incident=incident, actor=manager, aware_at=aware)
    clock = IncidentClock.objects.select_related("deadline").get(incident=incident)
    assert clock.deadline.due_at == aware + timedelta(hours=72)
    assert incident.entries.filter(body__contains="became aware").exists()
    with pytest.raises(InvalidTransition, match="future"):
        incident_set_aware_at(incident=incident, actor=manager, aware_at=timezone.now() + timedelta(hours=1))
    incident_set_aware_at(incident=incident, actor=manager, aware_at=None)  # back to detection
    clock.deadline.refresh_from_db()
    assert clock.deadline.due_at == incident.detected_at + timedelta(hours=72)


def test_someone_without_the_status_permission_cannot_move_the_clock(breach):
    incident, _manager = breach
    observer = UserFactory.create()
    give_role(incident, observer, "observer")
    before = IncidentClock.objects.get(incident=incident).deadline.due_at
    with pytest.raises(Refused):
        incident_set_aware_at(incident=incident, actor=observer, aware_at=timezone.now() - timedelta(hours=9))
    incident.refresh_from_db()
    assert incident.aware_at is None
    assert IncidentClock.objects.get(incident=incident).deadline.due_at == before


def test_the_notification_is_recorded_with_its_reference_and_the_deadline_is_done(breach):
    incident, manager = breach
    clock = IncidentClock.objects.get(incident=incident)
    with pytest.raises(InputRefused, match="reference"):
        clock_notified(clock=clock, actor=manager, reference="  ")
    clock.refresh_from_db()
    assert not clock.is_done
    assert clock.deadline.is_open
    clock_notified(clock=clock, actor=manager, reference="IMY-2026-1234")
    clock.refresh_from_db()
    assert clock.reference == "IMY-2026-1234"
    assert clock.notified_by == manager
    assert Deadline.objects.get(pk=clock.deadline_id).is_done
    with pytest.raises(Refused, match="already recorded"):
        clock_notified(clock=clock, actor=manager, reference="again")


def test_the_header_region_shows_the_clock_to_the_team_and_nothing_for_other_incidents(client, breach):
    incident, manager = breach
    client.force_login(manager)
    page = client.get(reverse("playbooks:clocks", args=[incident.code]))
    assert page.status_code == 200
    assert b"GDPR Art. 33" in page.content
    assert b"Notified" in page.content
    other = IncidentFactory.create(declared_by=manager)
    empty = client.get(reverse("playbooks:clocks", args=[other.code]))
    assert b"GDPR" not in empty.content
    stranger = UserFactory.create()
    client.force_login(stranger)
    assert client.get(reverse("playbooks:clocks", args=[incident.code])).status_code == 404  # restricted


def test_a_logged_promise_with_a_time_becomes_a_deadline(cast):
    journalist = stakeholder_add(
        incident=cast.incident,
        actor=cast.comms,
        kind=StakeholderKind.JOURNALIST,
        name="Anna Berg",
        organisation="Dagens Nyheter",
        owner=cast.comms,
    )
    statement = fully_approved(cast)
    due = timezone.now() + timedelta(hours=2)
    entry = contact_log(
        incident=cast.incident,
        actor=cast.comms,
        stakeholder=journalist,
        channel="phone",
        summary="Read her our statement; she asked about refunds.",
        statement=statement,
        promise="Call back with refund numbers",
        promise_due_at=due,
    )
    assert entry.deadline is not None
    assert entry.deadline.due_at == due
    assert entry.deadline.owner == cast.comms
    draft = new_statement(cast, body="Not approved yet.")
    with pytest.raises(InputRefused, match="approved or published"):
        contact_log(
            incident=cast.incident,
            actor=cast.comms,
            stakeholder=journalist,
            channel="phone",
            summary="x",
            statement=draft,
        )
    assert ContactEntry.objects.count() == 1


def test_an_observer_cannot_write_to_the_register(cast, client):
    with pytest.raises(Refused):
        stakeholder_add(incident=cast.incident, actor=cast.observer, kind="partner", name="Acme")
    client.force_login(cast.observer)
    response = client.post(
        reverse("stakeholders:add", args=[cast.incident.code]), {"kind": "partner", "name": "Acme"}
    )
    assert response.status_code == 403
    assert not Stakeholder.objects.exists()


def test_a_press_enquiry_is_a_deadline_until_answered_and_the_review_shows_who_was_never_told(cast, client):
    journalist = stakeholder_add(
        incident=cast.incident,
        actor=cast.comms,
        kind=StakeholderKind.JOURNALIST,
        name="Anna Berg",
        organisation="Dagens Nyheter",
    )
    partner = stakeholder_add(
        incident=cast.incident,
        actor=cast.comms,
        kind=StakeholderKind.PARTNER,
        name="Payments partner",
        organisation="Klarna",
    )
    enquiry = enquiry_add(
        incident=cast.incident,
        actor=cast.comms,
        journalist=journalist,
        question="How many customers were charged twice?",
        due_at=timezone.now() + timedelta(hours=3),
    )
    assert enquiry.deadline.is_open
    assert enquiry.deadline.owner == cast.comms
    enquiry_close(enquiry=enquiry, actor=cast.comms, summary="About 4,000; refunds under way.")
    enquiry = PressEnquiry.objects.select_related("deadline").get(pk=enquiry.pk)
    assert enquiry.state == EnquiryState.ANSWERED
    assert enquiry.deadline.is_done
    with pytest.raises(Refused, match="already answered"):
        enquiry_close(enquiry=enquiry, actor=cast.comms, summary="again")
    client.force_login(cast.commander)
    review = client.get(reverse("stakeholders:review", args=[cast.incident.code]))
    text = review.content.decode()
    assert "Anna Berg" in text
    assert "About 4,000" in text
    never = text.split("Never told", 1)[1].split("Press enquiries", 1)[0]
    assert "Payments partner" in never
    assert "Anna Berg" not in never
    page = client.get(reverse("stakeholders:register", args=[cast.incident.code]))
    assert page.status_code == 200
    assert partner.name in page.content.decode()


def test_a_regulatory_clock_is_edited_in_the_playbook_editor_like_any_list(seeded, client):
    """Data, not code: adding a clock to a playbook is an editor save (a new version), and compare shows it."""
    from incidents.playbooks.compare import compare_versions
    from tests.test_playbooks import _edit_data

    ensure_playbooks()
    manager = UserFactory.create(org_role=OrgRole.CRISIS_MANAGER)
    client.force_login(manager)
    outage = Playbook.objects.get(name="Technical outage")
    data = _edit_data(client, outage)
    assert data["clocks-TOTAL_FORMS"] == "0"
    data |= {
        "clocks-TOTAL_FORMS": "1",
        "clocks-0-name": "Early warning to the CSIRT",
        "clocks-0-authority": "CERT-SE",
        "clocks-0-basis": "NIS2 Art. 23(4)(a)",
        "clocks-0-hours": "24",
        "clocks-0-starts": "aware",
        "change_note": "NIS2 early warning",
    }
    response = client.post(reverse("playbooks:edit", args=[outage.code]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    outage.refresh_from_db()
    (clock,) = outage.latest().clocks.all()
    assert (clock.hours, clock.basis) == (24, "NIS2 Art. 23(4)(a)")
    _fields, lists = compare_versions(outage.versions.get(number=1), outage.latest())
    (change,) = [c for c in lists if c.label == "Regulatory clocks"]
    assert change.added == ["24 h · Early warning to the CSIRT · CERT-SE · NIS2 Art. 23(4)(a)"]
