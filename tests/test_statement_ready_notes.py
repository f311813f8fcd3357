"""Who hears that a statement may go out, and that it went out (issue #15: the shortest path to a published
holding statement — nobody goes looking for the approved text)."""

from __future__ import annotations

import pytest

from incidents.models import Notification
from tests.factories_statements import cast as cast  # the fixtures the tests below use
from tests.factories_statements import cv, fully_approved, login, publish, url
from tests.factories_statements import seeded as seeded


def keyed(prefix: str) -> dict[int, Notification]:
    return {n.recipient_id: n for n in Notification.objects.filter(key__startswith=prefix)}


@pytest.mark.django_db
def test_the_team_s_publishers_and_the_author_hear_it_may_go_out_and_the_link_asks_for_publishing(cast):
    statement = fully_approved(cast)
    ready = keyed("statement-approved:")
    # The social media manager publishes (role), the drafter wrote it; the commander's role publishes too.
    assert {cast.publisher.pk, cast.drafter.pk, cast.commander.pk} <= set(ready)
    assert cast.executive.pk not in ready  # the last approver has just seen it happen
    assert cast.observer.pk not in ready  # an observer's role does not publish
    note = ready[cast.publisher.pk]
    assert note.url.endswith(f"/statements/{statement.code}/?publish=1")
    assert f"v{cv(statement).number} is approved by every step and may be published" in note.text


@pytest.mark.django_db
def test_the_link_focuses_record_as_published_only_for_someone_who_may_publish(client, cast):
    statement = fully_approved(cast)
    button = "autofocus>Record v1 as published"
    login(client, cast.publisher)
    assert button in client.get(url(statement) + "?publish=1").content.decode()
    assert button not in client.get(url(statement)).content.decode()  # only when the link asks for it
    login(client, cast.observer)
    page = client.get(url(statement) + "?publish=1").content.decode()
    assert "Record v1 as published" not in page


@pytest.mark.django_db
def test_the_approvers_and_the_author_hear_it_went_out_the_publisher_does_not(cast):
    statement = fully_approved(cast)
    publish(cast, statement)
    out = keyed("statement-published:")
    assert set(out) == {cast.legal.pk, cast.comms.pk, cast.executive.pk, cast.drafter.pk}
    note = out[cast.legal.pk]
    assert note.text.startswith("Published: v1 of")
    assert note.url.endswith(f"/statements/{statement.code}/")
    publish(cast, statement)  # recorded twice (a retry): found, nothing new said
    assert Notification.objects.filter(key__startswith="statement-published:").count() == 4
