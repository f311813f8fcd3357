"""Publishing races against PostgreSQL (threads, each with its own connection): two publishers clicking at
once queue one delivery per channel; two workers claiming one delivery: one sends; a send racing an edit: one
wins and the other is refused, never a post of a text that is no longer approved."""

from __future__ import annotations

import pytest

from incidents import services
from incidents.models import StatementError
from incidents.models.errors import Refused
from incidents.publishing import delivery as delivery_module
from incidents.publishing.models import Delivery, DeliveryState, Release
from tests.factories import give_role
from tests.factories_publishing import of, release, run_all
from tests.factories_publishing import platforms as platforms
from tests.factories_statements import cast as cast
from tests.factories_statements import fresh, fully_approved
from tests.factories_statements import seeded as seeded
from tests.helpers import race

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_publishers_clicking_at_once_queue_one_delivery_per_channel(cast, platforms):
    statement = fully_approved(cast)
    give_role(cast.incident, cast.comms, "social")
    people = [cast.publisher, cast.comms]
    results = race(2, lambda i: release(cast, statement, platforms.m, platforms.b, actor=people[i]))
    assert not any(isinstance(r, BaseException) for r in results), results
    assert Release.objects.count() == 1
    assert Delivery.objects.filter(statement=statement).count() == 2
    assert sorted(getattr(r, "release", 0) is None for r in results) == [
        False,
        True,
    ]  # one queued, one was a replay
    run_all()
    assert len(platforms.mastodon.statuses) == 1
    assert len(platforms.bluesky.posts()) == 1


def test_two_workers_claiming_one_delivery_one_sends(cast, platforms):
    statement = fully_approved(cast)
    release(cast, statement, platforms.m)
    d = of(statement, platforms.m)
    claims = race(4, lambda _i: delivery_module.claim(d.pk))
    winners = [c for c in claims if isinstance(c, Delivery)]
    assert len(winners) == 1, claims
    assert all(c is None for c in claims if c is not winners[0])
    delivery_module.record(winners[0], delivery_module.attempt(winners[0]))
    assert of(statement, platforms.m).state == DeliveryState.PUBLISHED
    assert len(platforms.mastodon.statuses) == 1


def test_a_publish_racing_an_edit_never_queues_a_text_that_is_no_longer_approved(cast, platforms):
    for _ in range(3):
        statement = fully_approved(cast, body=f"Approved text {Release.objects.count()}.")

        def click(statement=statement) -> object:
            return release(cast, statement, platforms.m)

        def edit(statement=statement) -> object:
            return services.statement_save_draft(
                statement=fresh(statement), actor=cast.drafter, expected_version=1, body="A new text."
            )

        calls = (click, edit)
        results = race(2, lambda i: calls[i]())  # noqa: B023 (race() returns before the next round)
        published, edited = results
        statement = fresh(statement)
        if isinstance(published, BaseException):  # the edit won: nothing queued, the draft is v2
            # Refused as a conflict (409): by the statement rules, or by the status check if the draft was
            # already saved when the click took the lock.
            assert isinstance(published, Refused), published
            assert not Delivery.objects.filter(statement=statement).exists()
            assert statement.is_draft
        else:  # the click won: the edit is refused while the delivery is on its way
            assert isinstance(edited, StatementError), edited
            assert statement.is_approved
            assert of(statement, platforms.m).version.number == 1
