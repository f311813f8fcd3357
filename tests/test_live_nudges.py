"""Nudges for the live regions, end to end: real uvicorn, real Redis, real PostgreSQL.

Writers publish after commit only; the events process routes each nudge to the streams whose topics match,
and a nudge about an incident only to streams whose user may see it now; /events/live refuses bad passes
without one byte of stream. Every wait is bounded; "nothing arrived" is asserted after a later nudge that
did arrive on the same stream (so no fixed sleep decides it).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
import redis
import time_machine
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from incidents import live, services
from incidents.models import Incident, RoleAssignment, Severity, User
from tests.factories import IncidentFactory, give_role
from tests.factories_statements import HX, approve, fresh, make_cast, new_statement, submit
from tests.factories_statements import cast as cast
from tests.factories_statements import seeded as seeded
from tests.live_server_asgi import SSEClient
from tests.streams import open_stream
from warroom.redis import deployment_id, get_redis

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def live_path(token: str) -> str:
    return f"/events/live?t={quote(token)}"


def open_live(
    server, user: User, *, incident: Incident | None = None, dash: bool = False, since: int | None = None
) -> SSEClient:
    token = live.mint_live_token(user=user, incident=incident, dash=dash)
    path = live_path(token) + (f"&since={since}" if since is not None else "")
    client = SSEClient.open(server.url, path)
    assert client.status == 200, (client.status, client.raw)
    assert client.wait_for(lambda c: any(e.event == "hello" for e in c.events), 5), client.raw
    # A fresh events process subscribes to Redis when its first stream opens; nudges published before that
    # are gone (the page is told to catch up instead): the tests publish once it listens.
    server.wait_for_stats(lambda s: s.get("redis") == "subscribed")
    return client


def nudges(client: SSEClient) -> list[list[object]]:
    return [json.loads(e.data) for e in client.events if e.event == "nudge"]


def has(client: SSEClient, region: str, key: str) -> bool:
    return any(n[0] == region and n[1] == key for n in nudges(client))


def marker(incident: Incident) -> str:
    """A nudge about a visible incident, to its streams and to dashboards. It is checked like every incident
    nudge, and checks run in order: once it arrived, every nudge published before it has been routed."""
    key = f"marker-{time.monotonic_ns()}"
    live.publish_nudge({"n": ["marker", key, 1], "i": incident.pk, "b": 1})
    return key


def others(client: SSEClient) -> list[list[object]]:
    return sorted((n for n in nudges(client) if n[0] != "marker"), key=lambda n: (str(n[0]), str(n[1])))


@pytest.fixture
def server(asgi_server):
    # Streams of an earlier test's pages go once their browser contexts close (conftest): wait for that.
    asgi_server.wait_for_stats(lambda s: s["streams"] == 0 and not s.get("live_streams"), timeout=30)
    yield asgi_server
    asgi_server.wait_for_stats(lambda s: s["streams"] == 0 and not s.get("live_streams"), timeout=10)


@pytest.fixture
def listener():
    client = redis.Redis.from_url(settings.REDIS_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(live.live_channel())
    yield pubsub
    pubsub.close()
    client.close()


def heard(pubsub, timeout: float = 2.0) -> list[dict[str, Any]]:
    """Every nudge published until the channel has been quiet for a moment (bounded by `timeout`)."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.3)
        if message is None:
            if got:
                break
            continue
        got.append(json.loads(message["data"]))
    return got


# --- publishing: after commit, never on rollback -----------------------------------------------------------


def test_a_nudge_is_published_after_commit_and_not_on_rollback(listener, manager):
    def failing_change() -> None:
        with transaction.atomic():
            live.nudge_on_commit("team", "1", incident_id=1)
            raise RuntimeError("the change fails")

    with pytest.raises(RuntimeError):
        failing_change()
    assert heard(listener, 1.0) == []

    with transaction.atomic():
        live.nudge_on_commit("team", "7", 123, incident_id=7, user_ids=[manager.pk], dash=True)
        assert listener.get_message(timeout=0.2) is None  # not before the commit
    (payload,) = heard(listener)
    assert payload["n"] == ["team", "7", 123]
    assert (payload["i"], payload["u"], payload["b"]) == (7, [manager.pk], 1)
    assert payload["d"] == deployment_id()


def test_the_bell_s_count_travels_in_its_one_person_s_nudge(listener, manager, member):
    from incidents.models import Notification

    def bells() -> list[list[int]]:
        return [p["n"][2:] for p in heard(listener) if p["n"][0] == "bell"]

    services.notify(user=member, incident=None, text="First", key="bell-test:1", email=False)
    services.notify(user=member, incident=None, text="Second", key="bell-test:2", email=False)
    first, second = bells()
    assert first[1] == 1
    assert second[1] == 2
    assert second[0] > first[0]  # stamped before it was read: the newest stamp shows the newest count
    services.notify(user=member, incident=None, text="Second", key="bell-test:2", email=False)  # a repeat
    (repeat,) = bells()
    assert repeat[1] == 2
    Notification.objects.filter(recipient=member).update(read_at=timezone.now())
    live.notifications_read(member.pk)
    (read,) = bells()
    assert read[1] == 0
    assert read[0] > second[0]
    # A value is one person's: never on a nudge that fans out to an incident's streams or dashboards.
    fans_out: list[dict[str, Any]] = [
        {"incident_id": 7, "user_ids": [member.pk]},
        {"user_ids": [member.pk, manager.pk]},
    ]
    for fanned in fans_out:
        with pytest.raises(ValueError, match="one person"):
            live.nudge_on_commit("bell", "me", value=lambda: 1, **fanned)
    assert heard(listener, 0.5) == []


def test_the_events_process_sends_a_value_only_to_the_one_person_named(server, manager, member):
    room = IncidentFactory.create(declared_by=manager)
    give_role(room, member, "scribe")
    mine = open_live(server, member)
    theirs = open_live(server, manager, incident=room)
    try:
        live.publish_nudge({"n": ["bell", "me", 5, 3], "u": [member.pk]})
        # A writer never sends this; were one to, the value must not reach every stream of the incident.
        live.publish_nudge({"n": ["bell", "me", 6, 4], "i": room.pk, "u": [member.pk]})
        key = marker(room)
        assert theirs.wait_for(lambda c: has(c, "marker", key), 10)
        assert mine.wait_for(
            lambda c: [n for n in nudges(c) if n[0] == "bell"] == [["bell", "me", 5, 3], ["bell", "me", 6]],
            10,
        )
        assert [n for n in nudges(theirs) if n[0] == "bell"] == [["bell", "me", 6]]
    finally:
        mine.close()
        theirs.close()


def test_a_severity_change_nudges_the_header_and_the_dashboard_stamped_after_commit(listener, manager):
    incident = IncidentFactory.create(declared_by=manager, severity=Severity.SEV3)
    heard(listener, 0.5)
    before = live.now_stamp()
    services.incident_change_severity(
        incident=incident, actor=manager, new_severity=Severity.SEV1, expected_severity=Severity.SEV3, note=""
    )
    got = {tuple(p["n"][:2]): p for p in heard(listener)}
    assert got[("incident", str(incident.pk))]["i"] == incident.pk
    assert got[("dash", "open")]["b"] == 1
    assert got[("incident", str(incident.pk))]["n"][2] >= before


def test_a_refused_change_nudges_nothing(listener, manager):
    incident = IncidentFactory.create(declared_by=manager, severity=Severity.SEV3)
    heard(listener, 0.5)
    with pytest.raises(services.StaleEdit):
        services.incident_change_severity(
            incident=incident,
            actor=manager,
            new_severity=Severity.SEV1,
            expected_severity=Severity.SEV2,
            note="",
        )
    assert heard(listener, 1.0) == []


def test_redis_down_loses_the_nudge_not_the_change(manager, monkeypatch, caplog):
    incident = IncidentFactory.create(declared_by=manager, severity=Severity.SEV3)

    def refuse(*args: object, **kwargs: object) -> None:
        raise redis.ConnectionError("down")

    monkeypatch.setattr(get_redis(), "publish", refuse)
    services.incident_change_severity(
        incident=incident, actor=manager, new_severity=Severity.SEV2, expected_severity=Severity.SEV3, note=""
    )
    assert Incident.objects.get(pk=incident.pk).severity == Severity.SEV2
    assert "live nudge was not sent" in caplog.text


def test_a_statement_change_nudges_its_card_and_only_a_new_or_finished_statement_the_panel(listener, cast):
    panel = ("statements", str(cast.incident.pk))

    def changed() -> list[tuple[object, ...]]:
        got = heard(listener)
        assert all(p["i"] == cast.incident.pk for p in got if p["n"][0] in ("statements", "statement-card"))
        return [tuple(p["n"][:2]) for p in got]

    heard(listener, 0.5)
    statement = new_statement(cast)  # a new card: the panel, once
    got = changed()
    assert panel in got
    assert ("statement-card", str(statement.code)) not in got
    submit(cast, statement)
    approve(statement, cast.legal)
    got = changed()
    assert ("statement-card", str(statement.code)) in got  # its card alone, in every open room
    assert ("statement", str(statement.code)) in got  # and its own page
    assert panel not in got
    variant = services.statement_create(
        incident=cast.incident, actor=cast.drafter, channel="website", body="Longer.", master=statement
    )
    got = changed()
    assert ("statement-card", str(statement.code)) in got  # a variant is shown in its master's card
    assert ("statement-card", str(variant.code)) not in got
    assert panel not in got
    services.statement_withdraw(statement=fresh(statement), actor=cast.commander, reason="Wrong facts.")
    got = changed()
    assert panel in got  # it leaves the cards for the finished list


def test_my_approvals_is_nudged_only_for_the_people_whose_queue_a_decision_changed(listener, cast):
    def asked() -> set[int]:
        return {u for p in heard(listener) if p["n"][0] == "approvals" for u in p.get("u", [])}

    legal, comms, executive = cast.legal.pk, cast.comms.pk, cast.executive.pk
    statement = new_statement(cast)
    heard(listener, 0.5)
    submit(cast, statement)
    assert asked() == {legal}  # step 1 reaches Legal's queue; steps not reached yet change nobody's
    approve(statement, cast.legal)
    assert asked() == {legal, comms}  # out of Legal's, into the Communications lead's
    approve(statement, cast.comms)
    assert asked() == {comms, executive}  # Legal decided earlier: their queue does not change now
    approve(statement, cast.executive)
    assert asked() == {executive}


def test_a_removed_member_hears_no_more_cards_and_may_not_fetch_one(server, seeded, client):
    cast = make_cast(restricted=True, title="Board member arrested")
    statement = submit(cast, new_statement(cast, body="Arrest confirmed by police."))
    card_url = reverse("incidents:statement-card", args=[cast.incident.code, statement.code])
    client.force_login(cast.observer)
    assert client.get(card_url, **HX).status_code == 200
    with open_live(server, cast.observer, incident=cast.incident) as room:
        approve(statement, cast.legal)
        assert room.wait_for(lambda c: has(c, "statement-card", str(statement.code)))
        assignment = RoleAssignment.objects.get(
            incident=cast.incident, user=cast.observer, ended_at__isnull=True
        )
        services.team_remove_role(incident=cast.incident, actor=cast.commander, assignment=assignment)
        assert room.wait_until_ended(5)
        assert [e.event for e in room.events][-1] == "revoked"
    response = client.get(card_url, **HX)
    assert response.status_code == 404
    assert b"Arrest" not in response.content


# --- routing --------------------------------------------------------------------------------------------


def test_nudges_reach_only_the_streams_whose_topics_match(server, manager, member, outsider):
    room = IncidentFactory.create(declared_by=manager)
    other = IncidentFactory.create(declared_by=manager)
    with (
        open_live(server, member, incident=room) as statement_page,
        open_live(server, outsider, dash=True) as dashboard,
        open_stream(server, manager, room) as timeline,
    ):
        live.publish_nudge({"n": ["bell", "me", 5], "u": [member.pk]})
        live.publish_nudge({"n": ["statement", "abc", 6], "i": room.pk})
        live.publish_nudge({"n": ["statement", "xyz", 7], "i": other.pk})
        live.publish_nudge({"n": ["dash", "open", 8], "i": other.pk, "b": 1})
        live.publish_nudge({"n": ["bell", "me", 9], "u": [manager.pk]})
        key = marker(room)
        for client in (statement_page, dashboard, timeline):
            assert client.wait_for(lambda c: has(c, "marker", key)), client.raw
        assert others(statement_page) == [["bell", "me", 5], ["statement", "abc", 6]]
        assert others(dashboard) == [["dash", "open", 8]]
        # The room's timeline stream carries its incident's nudges and its user's, beside its entries.
        assert others(timeline) == [["bell", "me", 9], ["statement", "abc", 6]]


def test_a_restricted_incident_s_nudges_never_reach_non_members(server, manager, member, outsider):
    secret = IncidentFactory.create(declared_by=manager, is_restricted=True, title="Board member leak")
    give_role(secret, member, "observer")
    with open_live(server, outsider, dash=True) as theirs, open_live(server, member, dash=True) as ours:
        live.publish_nudge({"n": ["dash", "open", 11], "i": secret.pk, "b": 1})
        live.publish_nudge({"n": ["incident", str(secret.pk), 12], "i": secret.pk})
        assert ours.wait_for(lambda c: has(c, "dash", "open"))
        key = marker(IncidentFactory.create(declared_by=manager))
        assert theirs.wait_for(lambda c: has(c, "marker", key))
        assert others(theirs) == []
    # Nor can a non-member ask for the incident's topic.
    token = live.mint_live_token(user=outsider, incident=secret)
    with SSEClient.open(server.url, live_path(token)) as refused:
        refused.wait_until_ended(3)
        assert (refused.status, bytes(refused.raw)) == (403, b"")


def test_a_member_removed_from_a_restricted_incident_gets_no_more_nudges(server, manager, member):
    secret = IncidentFactory.create(declared_by=manager, is_restricted=True)
    give_role(secret, member, "observer")
    with open_live(server, member, incident=secret) as page, open_live(server, member, dash=True) as dash:
        assignment = RoleAssignment.objects.get(incident=secret, user=member, ended_at__isnull=True)
        services.team_remove_role(incident=secret, actor=manager, assignment=assignment)
        # The statement page of the incident is told it is gone (and reloads into the 404)...
        assert page.wait_until_ended(5)
        assert [e.event for e in page.events][-1] == "revoked"
        # ...and the dashboard stays open but hears nothing more about the incident.
        live.publish_nudge({"n": ["dash", "open", 424242], "i": secret.pk, "b": 1})
        key = marker(IncidentFactory.create(declared_by=manager))
        assert dash.wait_for(lambda c: has(c, "marker", key))
        assert ["dash", "open", 424242] not in nudges(dash)


def test_a_page_that_connects_hears_what_changed_since_it_was_rendered_and_nothing_older(
    server, manager, member
):
    room = IncidentFactory.create(declared_by=manager)
    with open_live(server, manager) as first:  # the process is up and subscribed
        server.wait_for_stats(lambda s: s.get("redis") == "subscribed")
        hellos = [json.loads(e.data) for e in first.events if e.event == "hello"]
        assert hellos[0] == {"stale": True}  # no `since`: re-fetch everything once
        older = live.now_stamp()
        live.publish_nudge({"n": ["bell", "me", older], "u": [member.pk]})
        rendered = older + 1
        live.publish_nudge({"n": ["statement", "s1", rendered + 5], "i": room.pk})
        live.publish_nudge({"n": ["bell", "me", rendered + 6], "u": [member.pk]})
        live.publish_nudge({"n": ["bell", "me", rendered + 7], "u": [manager.pk]})
        key = "marker-since"
        live.publish_nudge({"n": ["marker", key, rendered + 10], "i": room.pk})
        assert first.wait_for(lambda c: has(c, "bell", "me"))
        server.wait_for_stats(lambda s: s["counters"].get("nudges", 0) >= 5)
        with open_live(server, member, incident=room, since=rendered) as page:
            assert page.wait_for(lambda c: has(c, "marker", key))
            assert others(page) == [["bell", "me", rendered + 6], ["statement", "s1", rendered + 5]]
            hello = [json.loads(e.data) for e in page.events if e.event == "hello"]
            assert hello == [{"stale": False}]


# --- refused connections ------------------------------------------------------------------------------------


def _expired_live(user: User) -> str:
    with time_machine.travel(timezone.now() - timedelta(seconds=settings.STREAM_TOKEN_MAX_AGE + 60)):
        return live.mint_live_token(user=user)


def test_bad_or_expired_passes_get_403_and_no_stream(server, manager, member, outsider):
    room = IncidentFactory.create(declared_by=manager)
    timeline_token = live.mint_stream_token(user=member, incident=room)
    refused = {
        "missing": "",
        "garbage": "not-a-token",
        "expired": _expired_live(member),
        "forged": signing.dumps(
            {"u": member.pk, "k": [f"u:{member.pk}"]}, key="guessed", salt=live.LIVE_SALT
        ),
        "a timeline pass": timeline_token,
        "someone else's topic": signing.dumps(
            {"u": outsider.pk, "k": [f"u:{outsider.pk}", f"u:{member.pk}"]},
            salt=live.LIVE_SALT,
            compress=True,
        ),
        "an unknown topic": signing.dumps(
            {"u": member.pk, "k": [f"u:{member.pk}", "all"]}, salt=live.LIVE_SALT, compress=True
        ),
    }
    for label, token in refused.items():
        path = "/events/live" if label == "missing" else live_path(token)
        with SSEClient.open(server.url, path) as client:
            client.wait_until_ended(3)
            assert client.status == 403, label
            assert bytes(client.raw) == b"", label
            assert client.events == [], label
    assert not server.stats().get("live_streams")
