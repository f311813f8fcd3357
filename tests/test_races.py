"""A crisis team clicks at the same time: invariants under real PostgreSQL concurrency."""

from __future__ import annotations

import pytest

from incidents import services
from incidents.models import Incident, IncidentChange, Status
from tests.factories import IncidentFactory, UserFactory
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
