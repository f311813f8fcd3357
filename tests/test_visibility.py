"""Who sees an incident, through both doors, on one matrix of cases.

The rule (README, "Design decisions"): an unrestricted incident is visible to every active user, a
restricted one only to its team; being on the team also shows legally privileged entries; model-wide
permissions and superuser status grant nothing. Code states it twice: for Django in
incidents/permissions.py (`visible_incidents` and the dashboard's hand-written `open_incidents_for_listing`, and
`get_incident_for` on its ORM and its hand-written SQL path), and for the events process in warroom/events/queries.py (`authorise`). Every case goes through
both doors here, so neither can drift from the matrix, nor the two query paths of `get_incident_for` from
each other. The IDOR sweep over every incident URL is in test_team.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Permission
from django.http import Http404

from incidents import live, services
from incidents.models import Incident, OrgRole, RoleAssignment, User
from incidents.permissions import (
    get_incident_for,
    incident_perms,
    open_incidents_for_listing,
    visible_incidents,
)
from tests.factories import IncidentFactory, UserFactory, give_role
from tests.live_server_asgi import SSEClient
from tests.streams import add_entry, stream_path

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def _incident(commander: User, *, restricted: bool) -> Incident:
    return IncidentFactory.create(declared_by=commander, is_restricted=restricted, title="Board member leak")


def _on_team(incident: Incident) -> User:
    person = UserFactory.create()
    give_role(incident, person, "observer")
    return person


def _deactivated(person: User) -> User:
    User.objects.filter(pk=person.pk).update(is_active=False)
    person.refresh_from_db()  # as the next request would load them
    return person


def _removed(incident: Incident) -> User:
    person = _on_team(incident)
    assignment = RoleAssignment.objects.get(incident=incident, user=person, ended_at__isnull=True)
    assert incident.commander is not None
    services.team_remove_role(incident=incident, actor=incident.commander, assignment=assignment)
    return person


def _superuser_administrator() -> User:
    boss = UserFactory.create(org_role=OrgRole.ADMINISTRATOR, is_superuser=True, is_staff=True)
    boss.user_permissions.add(*Permission.objects.filter(content_type__app_label="incidents"))
    return boss


Setup = Callable[[User], tuple[User, Incident]]


def _case(restricted: bool, person: Callable[[Incident], User]) -> Setup:
    def setup(commander: User) -> tuple[User, Incident]:
        incident = _incident(commander, restricted=restricted)
        return person(incident), incident

    return setup


# name: (setup, may see it, sees privileged entries)
MATRIX: dict[str, tuple[Setup, bool, bool]] = {
    "unrestricted, not on the team": (_case(False, lambda i: UserFactory.create()), True, False),
    "unrestricted, on the team": (_case(False, _on_team), True, True),
    "restricted, on the team": (_case(True, _on_team), True, True),
    "restricted, not on the team": (_case(True, lambda i: UserFactory.create()), False, False),
    "restricted, deactivated team member": (_case(True, lambda i: _deactivated(_on_team(i))), False, False),
    "unrestricted, deactivated user": (
        _case(False, lambda i: _deactivated(UserFactory.create())),
        False,
        False,
    ),
    "restricted, removed from the team": (_case(True, _removed), False, False),
    "unrestricted, removed from the team": (_case(False, _removed), True, False),
    "restricted, superuser administrator not on the team": (
        _case(True, lambda i: _superuser_administrator()),
        False,
        False,
    ),
    "unrestricted, superuser administrator not on the team": (
        _case(False, lambda i: _superuser_administrator()),
        True,
        False,
    ),
}


def _row(incident: Incident) -> dict[str, object]:
    return {f.attname: getattr(incident, f.attname) for f in Incident._meta.concrete_fields}


@pytest.mark.parametrize(("setup", "visible", "on_team"), MATRIX.values(), ids=MATRIX.keys())
def test_the_django_door_and_the_events_door_agree_with_the_matrix(server, manager, setup, visible, on_team):
    person, incident = setup(manager)
    privileged = add_entry(incident, manager, "counsel's advice", privileged=True, publish=False)
    public = add_entry(incident, manager, "for everyone", publish=False)

    # Django: the list filter, and get_incident_for on its ORM path (people=True) and its SQL path.
    assert visible_incidents(person).filter(pk=incident.pk).exists() == visible
    # The dashboard's hand-written listing (the incident is open) answers like the list filter.
    assert (incident.pk in {i.pk for i in open_incidents_for_listing(person)}) == visible
    answers: dict[bool, tuple[dict[str, object], frozenset[str]] | None] = {}
    for people in (True, False):
        try:
            found = get_incident_for(person, incident.code, people=people)
        except Http404:
            answers[people] = None
        else:
            answers[people] = (_row(found), found.viewer_perms)
    assert answers[True] == answers[False]  # the hand-written query answers exactly like the ORM
    answer = answers[True]
    assert (answer is not None) == visible
    if answer is not None:
        row, perms = answer
        assert row == _row(Incident.objects.get(pk=incident.pk))
        assert perms == incident_perms(person, incident)
        assert ("view_incident" in perms) == on_team

    # The events process: its own authorisation query decides the connect and what the replay shows.
    token = live.mint_stream_token(user=person, incident=incident)
    with SSEClient.open(server.url, stream_path(token)) as client:
        if visible:
            assert client.status == 200
            assert client.wait_for(lambda c: bool(c.presence()), 5), client.raw
            assert public in client.entry_ids()
            assert (privileged in client.entry_ids()) == on_team
        else:
            client.wait_until_ended(3)
            assert (client.status, bytes(client.raw)) == (403, b"")
