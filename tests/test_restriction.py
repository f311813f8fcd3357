"""Changing an incident's restriction after declaration: the commander's call alone, with a reason, behind
the same 5-minute step-up as approving (R11), on the timeline and in the audit log; a stale form is a 409;
restricting ends at once the streams of everyone it takes the incident away from. Each refusal is checked
to change nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from incidents import live, services
from incidents.audit.models import AuditEvent
from incidents.models import (
    Incident,
    IncidentChange,
    InputRefused,
    InvalidTransition,
    NotAllowed,
    Notification,
    TimelineEntry,
)
from tests.factories import IncidentFactory, give_role
from tests.helpers import age_verification, current_code, sign_in, snapshot
from tests.streams import counter, open_stream, stream_path

HX = {"HTTP_HX_REQUEST": "true"}
TABLES = [
    "incidents_incident",
    "incidents_incidentchange",
    "incidents_timelineentry",
    "incidents_notification",
]


def _url(incident: Incident) -> str:
    return reverse("incidents:change-restriction", args=[incident.code])


def _restrict(reason: str = "Legal asked: an employee is named") -> dict[str, str]:
    return {"visibility": "restricted", "expected": "open", "reason": reason}


# --- the service -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_commander_restricts_with_a_reason_on_the_timeline_and_outsiders_lose_their_notifications(
    manager, member, outsider, incident
):
    give_role(incident, member, "observer")
    for person in (member, outsider):
        Notification.objects.create(recipient=person, incident=incident, text="About it", url="/")

    services.incident_change_restriction(
        incident=incident, actor=manager, restricted=True, reason="  Legal asked  ", expected_restricted=False
    )

    incident.refresh_from_db()
    assert incident.is_restricted
    change = IncidentChange.objects.get(incident=incident, field=IncidentChange.Field.RESTRICTION)
    assert (change.old_value, change.new_value, change.note, change.changed_by) == (
        "open",
        "restricted",
        "Legal asked",
        manager,
    )
    last = TimelineEntry.objects.filter(incident=incident).order_by("-seq").first()
    assert last is not None
    assert "Restricted to the team" in last.body
    assert "Legal asked" in last.body
    # The team keeps what it was told; the outsider's notification named an incident they may no longer see.
    assert set(Notification.objects.filter(incident=incident).values_list("recipient", flat=True)) == {
        member.pk
    }
    # Audited by the trigger: the incident row's change, with its actor.
    audit = AuditEvent.objects.filter(table_name="incidents_incident", row_pk=str(incident.pk), op="U")
    assert any("is_restricted" in a.changed for a in audit)

    services.incident_change_restriction(
        incident=incident, actor=manager, restricted=False, reason="Name removed from the story"
    )
    incident.refresh_from_db()
    assert not incident.is_restricted


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "kwargs", "error"),
    [
        ("deputy", {"restricted": True, "reason": "x"}, NotAllowed),  # may change status, not visibility
        ("outsider", {"restricted": True, "reason": "x"}, NotAllowed),
        ("manager", {"restricted": True, "reason": "   "}, InputRefused),
        ("manager", {"restricted": False, "reason": "x"}, InvalidTransition),  # already open
        ("manager", {"restricted": True, "reason": "x", "expected_restricted": True}, services.StaleEdit),
    ],
)
def test_refusals_change_nothing(manager, member, outsider, incident, who, kwargs, error):
    give_role(incident, member, "deputy")
    actor = {"deputy": member, "outsider": outsider, "manager": manager}[who]
    before = snapshot(TABLES)
    with pytest.raises(error):
        services.incident_change_restriction(incident=incident, actor=actor, **kwargs)
    assert snapshot(TABLES) == before


# --- the view: permission, step-up, stale ------------------------------------------------------------------


@pytest.mark.django_db
def test_restricting_with_an_old_verification_asks_for_a_code_in_place_and_records_nothing(
    client, manager, outsider, incident
):
    sign_in(client, manager)
    age_verification(client, 6 * 60)
    before = snapshot(TABLES)

    prompt = client.post(_url(incident), _restrict(), **HX)
    assert prompt.status_code == 403
    assert prompt["X-Step-Up"] == "1"
    assert 'name="step_up_code"' in prompt.content.decode()
    assert snapshot(TABLES) == before

    wrong = client.post(_url(incident), {**_restrict(), "step_up_code": "000000"}, **HX)
    assert wrong.status_code == 403
    assert snapshot(TABLES) == before

    done = client.post(_url(incident), {**_restrict(), "step_up_code": current_code(manager)}, **HX)
    assert done.status_code == 200
    html = done.content.decode()
    assert 'id="incident-header"' in html
    assert "Lift the restriction" in html
    assert "Restricted to the team" in html  # the new timeline entry comes along out of band
    assert Incident.objects.get(pk=incident.pk).is_restricted

    outside = type(client)()
    sign_in(outside, outsider)
    assert outside.get(reverse("incidents:room", args=[incident.code])).status_code == 404


@pytest.mark.django_db
def test_a_stale_form_is_a_409_and_changes_nothing(client, manager, incident):
    Incident.objects.filter(pk=incident.pk).update(is_restricted=True)
    sign_in(client, manager)
    before = snapshot(TABLES)
    response = client.post(_url(incident), _restrict(), **HX)  # the page still showed it open
    assert response.status_code == 409
    assert "while you were looking" in response.content.decode()
    assert snapshot(TABLES) == before


@pytest.mark.django_db
def test_a_missing_reason_is_a_422_and_changes_nothing(client, manager, incident):
    sign_in(client, manager)
    before = snapshot(TABLES)
    response = client.post(_url(incident), _restrict(reason=""), **HX)
    assert response.status_code == 422
    assert "reason" in response.content.decode()
    assert snapshot(TABLES) == before


@pytest.mark.django_db
def test_only_the_commander_is_offered_the_control_and_others_get_403_or_404(
    client, manager, member, outsider, incident
):
    give_role(incident, member, "deputy")
    secret = IncidentFactory.create(declared_by=manager, is_restricted=True)
    sign_in(client, manager)
    room = reverse("incidents:room", args=[incident.code])
    assert 'name="visibility"' in client.get(room).content.decode()

    before = snapshot(TABLES)
    for person in (member, outsider):
        other = type(client)()
        sign_in(other, person)
        assert 'name="visibility"' not in other.get(room).content.decode()
        assert other.post(_url(incident), _restrict(), **HX).status_code == 403
    other = type(client)()
    sign_in(other, outsider)
    assert other.post(_url(secret), _restrict(), **HX).status_code == 404
    assert snapshot(TABLES) == before


# --- streams -----------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_restricting_ends_the_streams_of_people_off_the_team_at_once(server, manager, member, outsider):
    incident = IncidentFactory.create(declared_by=manager)
    give_role(incident, member, "observer")
    with open_stream(server, outsider, incident) as cut, open_stream(server, member, incident) as kept:
        hints = counter(server, "revocation_hints")
        services.incident_change_restriction(incident=incident, actor=manager, restricted=True, reason="x")
        assert cut.wait_until_ended(30), "the outsider's stream is still open"
        assert [e.event for e in cut.events][-1] == "revoked"
        assert counter(server, "revocation_hints") > hints  # told at once, not found by the next tick
        assert not kept.ended
    status, _, body = server.get(stream_path(live.mint_stream_token(user=outsider, incident=incident)))
    assert (status, body) == (403, b"")
