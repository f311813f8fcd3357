"""A crisis team clicks at the same time: invariants under real PostgreSQL concurrency."""

from __future__ import annotations

import pytest

from incidents import services
from incidents.models import Incident, IncidentChange, Status
from tests.factories import IncidentFactory, UserFactory, give_role
from tests.helpers import race

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_declarations_get_unique_consecutive_references():
    actor = UserFactory.create()
    results = race(
        8,
        lambda i: services.incident_declare(
            actor=actor, title=f"Race {i}", scenario="other", severity="sev4"
        ),
    )
    assert not [r for r in results if isinstance(r, BaseException)]
    numbers = sorted(int(i.reference.rsplit("-", 1)[1]) for i in Incident.objects.all())
    assert numbers == list(range(numbers[0], numbers[0] + 8))


@pytest.mark.parametrize("iteration", range(10))
def test_two_people_moving_the_status_at_once_one_wins(iteration):
    commander = UserFactory.create()
    deputy = UserFactory.create()
    incident = IncidentFactory.create(declared_by=commander, status=Status.ASSESSING)
    give_role(incident, deputy, "deputy")  # both may change the status (the service checks, under the lock)
    targets = [(commander, Status.RESPONDING), (deputy, Status.MONITORING)]

    def click(i: int):
        actor, target = targets[i]
        return services.incident_change_status(
            incident=incident, actor=actor, new_status=target, expected_status=Status.ASSESSING
        )

    results = race(2, click)
    winners = [r for r in results if isinstance(r, Incident)]
    losers = [r for r in results if isinstance(r, services.StaleEdit)]
    assert (len(winners), len(losers)) == (1, 1), results
    incident.refresh_from_db()
    assert incident.status == winners[0].status
    changes = list(IncidentChange.objects.filter(incident=incident))
    assert len(changes) == 1
    assert changes[0].new_value == incident.status


@pytest.mark.parametrize("iteration", range(10))
def test_two_handovers_of_command_at_once_leave_exactly_one_commander(iteration):
    from incidents.models import RoleAssignment

    commander = UserFactory.create()
    candidates = [UserFactory.create(), UserFactory.create()]
    incident = IncidentFactory.create(declared_by=commander)
    command = RoleAssignment.objects.get(incident=incident, is_command=True)

    def hand_over(i: int):
        return services.team_handover(
            incident=incident, actor=commander, assignment=command, to_user=candidates[i]
        )

    results = race(2, hand_over)
    winners = [r for r in results if isinstance(r, RoleAssignment)]
    losers = [r for r in results if isinstance(r, services.TeamError)]
    assert (len(winners), len(losers)) == (1, 1), results
    current = list(RoleAssignment.objects.current().filter(incident=incident, is_command=True))
    assert [a.user_id for a in current] == [winners[0].user_id]
    incident.refresh_from_db()
    assert incident.commander_id == winners[0].user_id


@pytest.mark.parametrize("iteration", range(5))
def test_the_same_person_added_twice_at_once_gets_one_role(iteration):
    from incidents.models import IncidentRole, RoleAssignment, TeamEvent

    commander = UserFactory.create()
    person = UserFactory.create()
    incident = IncidentFactory.create(declared_by=commander)
    legal = IncidentRole.objects.get(slug="legal")
    results = race(
        4, lambda i: services.team_add_member(incident=incident, actor=commander, user=person, role=legal)
    )
    assert len([r for r in results if isinstance(r, RoleAssignment)]) == 1, results
    assert all(isinstance(r, (RoleAssignment, services.TeamError)) for r in results)
    assert RoleAssignment.objects.current().filter(incident=incident, user=person).count() == 1
    assert TeamEvent.objects.filter(incident=incident, subject=person).count() == 1
