"""The live timeline stream, end to end: real uvicorn, real Redis, real PostgreSQL. Here: connecting and
replaying, live delivery, refused connections, revocation, privileged entries, presence, CORS and methods;
what the stream survives is in test_events_faults.py.

Entries are written (tests/streams.py) the way the contract says writers must (incident row lock, gapless
seq, the pre-rendered fragment, the doorbell after commit), so these tests pin the events endpoint and not
the composer. Every wait is bounded; nothing here sleeps for a fixed time to "let things happen" except
where the assertion is that nothing more arrives.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from urllib.parse import quote

import pytest
import redis
import time_machine
from django.conf import settings
from django.core import signing
from django.db import connections, transaction
from django.utils import timezone

from incidents import live, services
from incidents.models import Incident, RoleAssignment, User
from tests.factories import IncidentFactory, give_role
from tests.live_server_asgi import SSEClient
from tests.streams import add_entry, counter, newest_seq, open_stream, seqs_in, settle, stream_path
from warroom.redis import deployment_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


# --- (1) connect and replay ---------------------------------------------------------------------------------


def test_stream_opens_with_retry_then_replays_after_the_cursor(server, manager, room):
    top = newest_seq(room)
    multi_line = add_entry(room, manager, "first line\nsecond line", publish=False)
    room_seq = [add_entry(room, manager, f"entry {i}", publish=False) for i in range(3)]
    token = live.mint_stream_token(user=manager, incident=room)

    with SSEClient.open(server.url, stream_path(token, after=top)) as client:
        assert client.status == 200
        assert client.response_headers["content-type"] == "text/event-stream; charset=utf-8"
        assert client.response_headers["cache-control"] == "no-store"
        assert client.response_headers["x-accel-buffering"] == "no"
        assert client.response_headers["x-content-type-options"] == "nosniff"
        assert client.wait_for(lambda c: len(c.entries()) == 4 and bool(c.presence()))
        assert bytes(client.raw).startswith(b"retry: 2000\n\n: open\n\n")
        assert client.retry == 2000
        assert client.entry_ids() == [multi_line, *room_seq]
        # The fragment went out as one data: line per line and came back whole.
        assert b'data: <li id="entry-%d">first line\ndata: second line</li>\n' % multi_line in client.raw
        assert client.entries()[0][1] == f'<li id="entry-{multi_line}">first line\nsecond line</li>'
        assert client.entries()[1][1] == f'<li id="entry-{room_seq[0]}">entry 0</li>'


def test_a_reconnect_storm_on_one_cursor_shares_its_replay_and_every_stream_gets_every_entry_once(
    server, manager, room
):
    """After a restart every page of an incident reconnects with the same cursor: the streams that ask while
    the replay query is under way share its answer (issue #15, B5) — and each still gets each entry once."""
    top = newest_seq(room)
    missed = [add_entry(room, manager, f"missed {i}", publish=False) for i in range(5)]
    token = live.mint_stream_token(user=manager, incident=room)
    shared = counter(server, "replays_shared")
    clients: list[SSEClient] = []
    try:
        # The timeline locked: the first replay query waits (as behind a busy pool) while the others arrive.
        with transaction.atomic(), connections["default"].cursor() as cursor:
            cursor.execute("LOCK TABLE incidents_timelineentry IN ACCESS EXCLUSIVE MODE")
            clients = [SSEClient.open(server.url, stream_path(token, after=top)) for _ in range(10)]
            deadline = time.monotonic() + 30
            while counter(server, "replays_shared") - shared < 9:
                assert time.monotonic() < deadline, "the streams' replays were not shared"
                time.sleep(0.05)
        for client in clients:
            assert client.status == 200
            assert client.wait_for(lambda c: bool(c.presence()))
            assert client.entry_ids() == missed
    finally:
        for client in clients:
            client.close()


def test_last_event_id_wins_over_after(server, manager, room):
    seqs = [add_entry(room, manager, f"entry {i}", publish=False) for i in range(4)]
    token = live.mint_stream_token(user=manager, incident=room)
    path = stream_path(token, after=seqs[0])

    with SSEClient.open(server.url, path, headers={"Last-Event-ID": str(seqs[2])}) as client:
        assert client.wait_for(lambda c: bool(c.presence()))
        assert client.entry_ids() == [seqs[3]]


def test_without_a_cursor_the_whole_timeline_is_replayed(server, manager, room):
    with open_stream(server, manager, room) as client:
        assert client.entry_ids() == seqs_in(room)


def test_a_cursor_beyond_the_newest_entry_does_not_swallow_later_ones(server, manager, room):
    with open_stream(server, manager, room, after=newest_seq(room) + 50) as client:
        assert client.entries() == []
        seq = add_entry(room, manager, "after a stale cursor")
        assert client.wait_for(lambda c: c.entry_ids() == [seq], 20)


@pytest.mark.parametrize("cursor", ["-1", "abc", "1.5", "99999999999"])
def test_a_malformed_cursor_is_400(server, manager, room, cursor):
    token = live.mint_stream_token(user=manager, incident=room)
    status, _, body = server.get(f"/events/timeline?t={quote(token)}&after={cursor}")
    assert (status, body) == (400, b"")
    status, _, body = server.get(f"/events/timeline?t={quote(token)}", headers={"Last-Event-ID": cursor})
    assert (status, body) == (400, b"")


# --- (2) live delivery ------------------------------------------------------------------------------------


def test_live_entries_arrive_within_a_second_in_order_exactly_once(server, manager, member, room):
    give_role(room, member, "observer")
    with open_stream(server, member, room) as client:
        replayed = client.entry_ids()
        assert replayed == seqs_in(room)
        posted = []
        for i in range(5):
            seq = add_entry(room, manager, f"live {i}")
            posted.append(seq)
            # Each one live, on its doorbell (how fast is `make bench`'s figure, not a test's).
            assert client.wait_for(lambda c, seq=seq: seq in c.entry_ids(), 20), f"entry {seq} never came"  # type: ignore[misc]
        # Neither the safety tick nor a late doorbell may repeat anything.
        posted.append(settle(server, [client], room, manager))
        assert client.entry_ids() == replayed + posted
        assert [e.id for e in client.events if e.event == "entry"] == [str(s) for s in replayed + posted]


def test_a_doorbell_for_another_incident_sends_nothing(server, manager, room):
    other = IncidentFactory.create(declared_by=manager)
    with open_stream(server, manager, room) as client:
        before = client.entry_ids()
        rung = counter(server, "doorbells")
        add_entry(other, manager, "elsewhere")
        server.wait_for_stats(lambda s: s.get("counters", {}).get("doorbells", 0) > rung, timeout=30)
        sentinel = settle(server, [client], room, manager, ticks=0)
        assert client.entry_ids() == [*before, sentinel]
        assert b"elsewhere" not in client.raw


def test_a_doorbell_from_another_deployment_on_the_same_redis_is_never_shown(server, manager, room):
    """Two deployments sharing one Redis server: a doorbell naming another deployment — even one carrying an
    entry for the same incident id and exactly the next seq — is dropped; our own entry arrives instead."""
    with open_stream(server, manager, room) as client:
        dropped = server.stats()["counters"].get("foreign_doorbells", 0)
        following = newest_seq(room) + 1
        foreign = {"i": room.pk, "s": following, "h": f'<li id="entry-{following}">FOREIGN</li>', "p": 0}
        publisher = redis.Redis.from_url(settings.REDIS_URL)
        publisher.publish(live.channel(), json.dumps({**foreign, "d": "another-deployment"}))
        publisher.publish(live.channel(), json.dumps(foreign))  # from before doorbells named their sender
        server.wait_for_stats(lambda s: s["counters"].get("foreign_doorbells", 0) >= dropped + 2)
        seq = add_entry(room, manager, "ours", carry=True)
        assert seq == following
        assert client.wait_for(lambda c: seq in c.entry_ids(), 20)
        assert b"FOREIGN" not in client.raw


def test_channel_names_are_per_database_and_prefix(settings, monkeypatch):
    ours = live.channel()
    assert deployment_id() in ours
    monkeypatch.setitem(connections["default"].settings_dict, "NAME", "another_database")
    elsewhere = live.channel()
    settings.REDIS_PREFIX = "staging"
    prefixed = live.channel()
    assert len({ours, elsewhere, prefixed}) == 3
    assert "staging" in prefixed


# --- (3) refused connections -----------------------------------------------------------------------------


def _tampered(token_a: str, token_b: str) -> str:
    """Token A's payload with token B's timestamp and signature: a claim to another incident."""
    payload_a = token_a.rsplit(":", 2)[0]
    _, stamp_b, signature_b = token_b.rsplit(":", 2)
    return f"{payload_a}:{stamp_b}:{signature_b}"


def _expired(user: User, incident: Incident) -> str:
    with time_machine.travel(timezone.now() - timedelta(seconds=settings.STREAM_TOKEN_MAX_AGE + 60)):
        return live.mint_stream_token(user=user, incident=incident)


def _refused_tokens(manager: User, outsider: User, room: Incident) -> dict[str, str]:
    secret = IncidentFactory.create(declared_by=manager, is_restricted=True, title="Board member leak")
    mine = live.mint_stream_token(user=outsider, incident=room)
    theirs = live.mint_stream_token(user=manager, incident=secret)
    return {
        "missing": "",
        "garbage": "not-a-token",
        "forged": signing.dumps(
            {"u": outsider.pk, "i": secret.pk, "n": "x", "a": "X"}, key="guessed-key", salt=live.TOKEN_SALT
        ),
        "wrong salt": signing.dumps({"u": outsider.pk, "i": secret.pk, "n": "x", "a": "X"}, compress=True),
        "tampered": _tampered(mine, theirs),
        "expired": _expired(manager, room),
        "non-member of a restricted incident": live.mint_stream_token(user=outsider, incident=secret),
    }


def test_bad_tokens_and_outsiders_get_403_and_not_one_event_byte(server, manager, outsider, room):
    add_entry(room, manager, "secret words")
    for label, token in _refused_tokens(manager, outsider, room).items():
        path = "/events/timeline" if label == "missing" else stream_path(token)
        with SSEClient.open(server.url, path) as client:
            client.wait_until_ended(3)
            assert client.status == 403, label
            assert bytes(client.raw) == b"", label
            assert client.events == [], label
            assert client.comments == [], label
    assert server.stats()["streams"] == 0


def test_a_connect_storm_of_members_and_outsiders_gets_the_right_answer_each(server, manager, outsider):
    """Connect-time checks are batched under load; each connection must still get its own verdict."""
    from concurrent.futures import ThreadPoolExecutor

    secret = IncidentFactory.create(declared_by=manager, is_restricted=True)
    tokens = [live.mint_stream_token(user=u, incident=secret) for u in [manager, outsider] * 15]
    after = newest_seq(secret)

    def connect(token: str) -> tuple[int, bytes]:  # no ORM in here: 30 threads would drain the pool
        with SSEClient.open(server.url, stream_path(token, after=after)) as client:
            client.wait_for(lambda c: c.ended or c.is_open, 20)
            return client.status, bytes(client.raw)

    with ThreadPoolExecutor(30) as pool:
        results = list(pool.map(connect, tokens))
    assert [status for status, _ in results] == [200, 403] * 15
    assert all(raw == b"" for status, raw in results if status == 403)


def test_a_deactivated_user_cannot_connect(server, member, room):
    token = live.mint_stream_token(user=member, incident=room)
    User.objects.filter(pk=member.pk).update(is_active=False)
    status, _, body = server.get(stream_path(token))
    assert (status, body) == (403, b"")


# --- (4) revocation while open -------------------------------------------------------------------------------


def _assert_cut(client: SSEClient) -> None:
    # How soon is the bench's figure (a hint: at once; the periodic re-check: every 2 s); here, that it is cut.
    assert client.wait_until_ended(30), "stream still open"


def test_member_removed_from_a_restricted_incident_loses_the_stream_on_the_revocation_hint(
    server, manager, member
):
    secret = IncidentFactory.create(declared_by=manager, is_restricted=True)
    give_role(secret, member, "observer")
    with open_stream(server, member, secret) as client:
        assignment = RoleAssignment.objects.get(incident=secret, user=member, ended_at__isnull=True)
        hints = counter(server, "revocation_hints")
        services.team_remove_role(incident=secret, actor=manager, assignment=assignment)
        _assert_cut(client)
        assert counter(server, "revocation_hints") > hints  # told at once, not found by the next tick
        delivered = client.entry_ids()
        # Anything written after the removal never reaches the removed member.
        late = add_entry(secret, manager, "after removal")
        assert late not in delivered
        assert [e.event for e in client.events][-1] == "revoked"
    status, _, body = server.get(stream_path(live.mint_stream_token(user=member, incident=secret)))
    assert (status, body) == (403, b"")


def test_removal_without_a_doorbell_is_caught_by_the_periodic_check(server, manager, member):
    """Permission rows deleted behind the services' back: no revocation hint, the 2 s re-check still cuts."""
    from incidents.models import IncidentUserObjectPermission

    secret = IncidentFactory.create(declared_by=manager, is_restricted=True)
    give_role(secret, member, "observer")
    with open_stream(server, member, secret) as client:
        hints, ticks = counter(server, "revocation_hints"), counter(server, "ticks")
        IncidentUserObjectPermission.objects.filter(user=member, content_object=secret).delete()
        _assert_cut(client)
        assert counter(server, "revocation_hints") == hints  # nobody hinted: the tick found it
        assert counter(server, "ticks") > ticks


def test_a_deactivated_user_loses_every_stream(server, manager, member, room):
    secret = IncidentFactory.create(declared_by=manager, is_restricted=True)
    give_role(secret, member, "observer")
    with open_stream(server, member, room) as open_room, open_stream(server, member, secret) as secret_room:
        User.objects.filter(pk=member.pk).update(is_active=False)
        _assert_cut(open_room)
        _assert_cut(secret_room)


def test_other_viewers_keep_their_stream_when_someone_is_removed(server, manager, member):
    secret = IncidentFactory.create(declared_by=manager, is_restricted=True)
    give_role(secret, member, "observer")
    with open_stream(server, manager, secret) as commander, open_stream(server, member, secret) as removed:
        assignment = RoleAssignment.objects.get(incident=secret, user=member, ended_at__isnull=True)
        services.team_remove_role(incident=secret, actor=manager, assignment=assignment)
        assert removed.wait_until_ended(30)
        seq = add_entry(secret, manager, "still here")
        assert commander.wait_for(lambda c: seq in c.entry_ids(), 20)
        assert not commander.ended


# --- legally privileged entries -------------------------------------------------------------------------


def test_privileged_entries_reach_the_team_only_live_and_in_replay(server, manager, member, outsider, room):
    """An open incident is readable by everyone, its privileged entries only by its team (as on the page)."""
    give_role(room, member, "observer")
    hidden_before = add_entry(room, manager, "counsel's advice", privileged=True, publish=False)
    with open_stream(server, member, room) as team, open_stream(server, outsider, room) as follower:
        assert hidden_before in team.entry_ids()
        assert hidden_before not in follower.entry_ids()
        hidden = add_entry(room, manager, "privileged, live", privileged=True)
        shown = add_entry(room, manager, "for everyone")
        assert team.wait_for(lambda c: shown in c.entry_ids(), 20)
        assert follower.wait_for(lambda c: shown in c.entry_ids(), 20)
        assert team.entry_ids()[-2:] == [hidden, shown]
        assert hidden not in follower.entry_ids()
        assert b"privileged" not in follower.raw
        assert b"counsel" not in follower.raw
        # The skipped seq is not re-announced every safety tick, and nothing is sent twice.
        settle(server, [team, follower], room, manager)
        assert follower.entry_ids().count(shown) == 1
        assert hidden not in follower.entry_ids()


def test_leaving_the_team_of_an_open_incident_stops_privileged_entries_but_not_the_stream(
    server, manager, member, room
):
    give_role(room, member, "observer")
    with open_stream(server, member, room) as client:
        assignment = RoleAssignment.objects.get(incident=room, user=member, ended_at__isnull=True)
        services.team_remove_role(incident=room, actor=manager, assignment=assignment)
        # Unrestricted: they may still follow it. The re-check (hint or tick) has run once two ticks passed.
        settle(server, [client], room, manager)
        hidden = add_entry(room, manager, "privileged after leaving", privileged=True)
        shown = add_entry(room, manager, "public after leaving")
        assert client.wait_for(lambda c: shown in c.entry_ids(), 20)
        assert hidden not in client.entry_ids()
        assert not client.ended


# --- (7) presence -----------------------------------------------------------------------------------------


def test_presence_lists_the_people_connected(server, manager, member, room):
    with open_stream(server, manager, room) as maja:
        assert maja.presence()[-1]["people"] == [
            {"id": manager.pk, "n": manager.display_name, "a": manager.initials}
        ]
        with open_stream(server, member, room) as erik:
            both = sorted(
                [
                    {"id": manager.pk, "n": manager.display_name, "a": manager.initials},
                    {"id": member.pk, "n": member.display_name, "a": member.initials},
                ],
                key=lambda p: p["n"],
            )
            assert erik.presence()[-1]["people"] == both
            assert maja.wait_for(lambda c: c.presence()[-1]["people"] == both, 20)
            # A second tab of the same person changes nobody's list.
            with open_stream(server, member, room):
                settle(server, [maja], room, manager, ticks=0)  # whatever the second tab caused has arrived
                assert len(maja.presence()) == 2
        assert maja.wait_for(lambda c: len(c.presence()[-1]["people"]) == 1, 20)


# --- CORS and methods -----------------------------------------------------------------------------------


def test_cors_allows_the_app_s_own_origins_only(server, manager, room):
    token = live.mint_stream_token(user=manager, incident=room)
    with SSEClient.open(server.url, stream_path(token), headers={"Origin": "http://127.0.0.1:8000"}) as ok:
        assert ok.status == 200
        assert ok.response_headers["access-control-allow-origin"] == "http://127.0.0.1:8000"
        assert "access-control-allow-credentials" not in ok.response_headers
    with SSEClient.open(server.url, stream_path(token), headers={"Origin": "https://evil.example"}) as evil:
        assert "access-control-allow-origin" not in evil.response_headers
    status, headers, _ = server.get(
        stream_path(token), method="OPTIONS", headers={"Origin": "http://localhost:8000"}
    )
    assert status == 204
    assert headers["access-control-allow-origin"] == "http://localhost:8000"
    assert "last-event-id" in headers["access-control-allow-headers"]


def test_only_get(server, manager, room):
    token = live.mint_stream_token(user=manager, incident=room)
    status, _, _ = server.get(stream_path(token), method="POST")
    assert status == 405


def test_healthz_still_answers(server):
    status, _, body = server.get("/events/healthz")
    assert status == 200
    assert b'"redis": "ok"' in body


def test_an_unknown_events_path_is_404(server):
    assert server.get("/events/nope")[0] == 404
