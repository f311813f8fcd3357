"""What the live stream survives, end to end (real uvicorn, Redis, PostgreSQL): lost doorbells and entries
carried by the doorbell, Redis going away, the pool's connections dying, a crash of the events process,
concurrent writers; and what open streams cost it (registry, threads, connections, heartbeats).
"""

from __future__ import annotations

import json
import shutil
import threading
import time

import pytest
import redis
from django.db import connection

from bench.processes import AsgiServer, RedisServer
from incidents import live
from tests.factories import give_role
from tests.helpers import race
from tests.live_server_asgi import SSEClient
from tests.streams import add_entry, newest_seq, open_stream, settle, stream_path
from warroom.redis import deployment_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


# --- (5) lost doorbell -----------------------------------------------------------------------------------


def test_a_lost_publish_is_delivered_by_the_safety_tick(server, manager, room):
    with open_stream(server, manager, room) as client:
        seq = add_entry(room, manager, "published nowhere", publish=False)
        assert client.wait_for(lambda c: seq in c.entry_ids(), 30.0)  # nothing rang: only the tick can


def test_the_next_doorbell_repairs_a_lost_one_in_order(server, manager, room):
    with open_stream(server, manager, room) as client:
        lost = add_entry(room, manager, "lost", publish=False)
        rung = add_entry(room, manager, "rung")
        assert client.wait_for(lambda c: rung in c.entry_ids(), 1.0)
        assert client.entry_ids()[-2:] == [lost, rung]


def events_counters(server: AsgiServer) -> dict[str, int]:
    with SSEClient.open(server.url, "/events/stats") as client:
        client.wait_until_ended(2)
        counters: dict[str, int] = json.loads(client.raw.split(b"\r\n\r\n", 1)[-1] or b"{}")["counters"]
        return counters


def test_a_doorbell_carrying_the_next_entry_is_delivered_without_reading_it_back(server, manager, room):
    with open_stream(server, manager, room) as client:
        first = add_entry(room, manager, "loads the window")
        assert client.wait_for(lambda c: first in c.entry_ids(), 20)
        before = events_counters(server)
        carried = add_entry(room, manager, "carried by the doorbell", carry=True)
        assert client.wait_for(lambda c: carried in c.entry_ids(), 20)
        after = events_counters(server)
    assert after.get("doorbell_entries", 0) == before.get("doorbell_entries", 0) + 1
    assert after.get("db_queries", 0) == before.get("db_queries", 0)
    assert client.entry_ids().count(carried) == 1


def test_a_carried_entry_after_a_gap_is_read_from_postgresql_in_order(server, manager, room):
    with open_stream(server, manager, room) as client:
        first = add_entry(room, manager, "loads the window")
        assert client.wait_for(lambda c: first in c.entry_ids(), 20)
        lost = add_entry(room, manager, "its doorbell was lost", publish=False)
        carried = add_entry(room, manager, "carried, but one is missing before it", carry=True)
        assert client.wait_for(lambda c: carried in c.entry_ids(), 20)
        assert client.entry_ids()[-2:] == [lost, carried]


def test_a_carried_privileged_entry_reaches_the_team_only(server, manager, member, outsider, room):
    give_role(room, member, "observer")
    with open_stream(server, member, room) as team, open_stream(server, outsider, room) as follower:
        warm = add_entry(room, manager, "loads the window")
        assert follower.wait_for(lambda c: warm in c.entry_ids(), 20)
        hidden = add_entry(room, manager, "counsel's view, carried", privileged=True, carry=True)
        shown = add_entry(room, manager, "for everyone, carried", carry=True)
        assert team.wait_for(lambda c: shown in c.entry_ids(), 20)
        assert follower.wait_for(lambda c: shown in c.entry_ids(), 20)
        assert team.entry_ids()[-2:] == [hidden, shown]
        assert hidden not in follower.entry_ids()
        assert b"counsel" not in follower.raw


class PrivateRedis(RedisServer):
    """A redis-server of the test's own, so it can be killed without touching anyone else's."""

    def publish(self, payload: dict[str, int]) -> None:
        """A doorbell, as this deployment's writers ring it."""
        message = json.dumps({**payload, "d": deployment_id()})
        redis.Redis.from_url(self.url()).publish(live.channel(), message)


@pytest.fixture
def server_with_private_redis(django_db_setup):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    from tests.live_server_asgi import server_environment

    private = PrivateRedis()
    private.start()
    server = AsgiServer(server_environment(REDIS_URL=private.url()))
    server.start()
    try:
        yield server, private
    finally:
        server.close()
        private.close()


def test_redis_down_streams_stay_open_catch_up_by_tick_and_resubscribe(
    server_with_private_redis, manager, room
):
    server, private = server_with_private_redis
    with open_stream(server, manager, room) as client:
        server.wait_for_stats(lambda s: s["redis"] == "subscribed")
        seq = add_entry(room, manager, "rung on the private Redis", publish=False)
        private.publish({"i": room.pk, "s": seq})
        assert client.wait_for(lambda c: seq in c.entry_ids(), 20.0)

        private.kill()
        server.wait_for_stats(lambda s: s["redis"] != "subscribed")
        down = add_entry(room, manager, "written while Redis is down", publish=False)
        assert client.wait_for(lambda c: down in c.entry_ids(), 30.0), "the safety tick did not deliver"
        assert not client.ended

        private.start()
        server.wait_for_stats(lambda s: s["redis"] == "subscribed", timeout=15)
        back = add_entry(room, manager, "rung again", publish=False)
        private.publish({"i": room.pk, "s": back})
        assert client.wait_for(lambda c: back in c.entry_ids(), 1.0)
        assert client.entry_ids()[-3:] == [seq, down, back]


def test_database_connections_dropped_under_the_streams_cost_nothing(server, manager, room):
    """What a PostgreSQL restart does to the events process's pool: its connections die. The next query
    notices, the pool replaces them, and neither open streams nor new ones see an error."""
    with open_stream(server, manager, room) as client:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'warroom-events' AND datname = current_database()"
            )
            assert cursor.fetchone()[0] >= 1
        seq = add_entry(room, manager, "after the connections died")
        assert client.wait_for(lambda c: seq in c.entry_ids(), 20)
        assert not client.ended
        with open_stream(server, manager, room) as again:
            assert seq in again.entry_ids()
    assert server.stats()["counters"].get("db_retries", 0) >= 1


# --- (6) cleanup and resources -----------------------------------------------------------------------------


def test_closed_connections_leave_an_empty_registry(server, manager, member, room):
    clients = [open_stream(server, user, room) for user in (manager, member, member)]
    stats = server.stats()
    assert (stats["streams"], stats["incidents"], stats["users"]) == (3, 1, 2)
    for client in clients:
        client.close()
    stats = server.wait_for_stats(lambda s: s["streams"] == 0, timeout=30)
    assert (stats["incidents"], stats["users"]) == (0, 0)


def test_open_streams_hold_no_thread_and_no_database_connection(server, manager, room):
    clients = [open_stream(server, manager, room) for _ in range(30)]
    try:
        stats = server.stats()
        assert stats["streams"] == 30
        # Fewer threads than streams: none is held per stream (the process's own — pool workers, executor —
        # come and go with load; a thread per stream would make 30 and more).
        assert stats["threads"] < stats["streams"]
        assert stats["db_pool"]["size"] <= 4

        # A connection may be busy for a moment with the last stream's replay or the pool's own check; what
        # must not happen is one held for a stream, so wait until all of them are idle, then count them.
        def activity() -> tuple[int, int]:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FILTER (WHERE state <> 'idle'), count(*) FROM pg_stat_activity "
                    "WHERE application_name = 'warroom-events' AND datname = current_database()"
                )
                busy, held = cursor.fetchone()
            return busy, held

        deadline = time.monotonic() + 20
        busy, held = activity()
        while busy and time.monotonic() < deadline:
            time.sleep(0.05)
            busy, held = activity()
        assert busy == 0
        assert held <= 4
        assert server.stats()["streams"] == 30
    finally:
        for client in clients:
            client.close()


def test_an_idle_stream_gets_heartbeats(django_db_setup, manager, room):
    from tests.live_server_asgi import server_environment

    quick = AsgiServer(server_environment(EVENTS_HEARTBEAT_SECONDS="1"))
    quick.start()
    try:
        with open_stream(quick, manager, room) as client:
            # A fresh process subscribes to Redis after this first stream opened: it is told to catch up
            # once more (`hello`, for the room's other regions); that is the only event allowed meanwhile.
            before = [e for e in client.events if e.event != "hello"]
            assert client.wait_for(lambda c: c.comments.count("ka") >= 2, 8)
            after = [e for e in client.events if e.event != "hello"]
            assert after == before  # comments only: no event, no entry, no id moved
    finally:
        quick.close()


def test_stats_are_for_loopback_only(server):
    with SSEClient.open(server.url, "/events/stats", source_address="127.0.0.2") as client:
        client.wait_until_ended(2)
        assert client.status == 404


# --- (8) server restart ---------------------------------------------------------------------------------


def test_after_a_crash_reconnecting_with_last_event_id_gets_everything_once(server, manager, room):
    """Like EventSource: when the stream drops, reconnect with Last-Event-ID until the server is back."""
    written: list[int] = []

    def writer() -> None:
        try:
            for i in range(30):
                written.append(add_entry(room, manager, f"during restart {i}"))
                time.sleep(0.05)
        finally:
            connection.close()

    token = live.mint_stream_token(user=manager, incident=room)
    last_id = newest_seq(room)
    received: list[int] = []
    first = open_stream(server, manager, room, after=last_id)
    client: SSEClient | None = first
    consumed, reconnects = 0, 0
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert first.wait_for(lambda c: len(c.entries()) >= 3, 20)
        server.restart()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if client is not None:
                client.wait_for(lambda c: c.ended, 0.3)
                fresh = client.entry_ids()[consumed:]
                consumed += len(fresh)
                received.extend(fresh)
                last_id = fresh[-1] if fresh else last_id
            if not thread.is_alive() and written and last_id == written[-1]:
                break
            if client is None or client.ended:
                if client is not None:
                    client.close()
                try:
                    client = SSEClient.open(
                        server.url, stream_path(token), headers={"Last-Event-ID": str(last_id)}
                    )
                except OSError:
                    client = None
                    time.sleep(0.2)  # the server is still down; a browser waits `retry` ms as well
                    continue
                assert client.status == 200
                consumed, reconnects = 0, reconnects + 1
    finally:
        thread.join(10)
        if client is not None:
            client.close()
    assert reconnects >= 1
    assert received == written, f"got {received}, wrote {written}"


# --- (9) concurrent writers -----------------------------------------------------------------------------


def test_eight_concurrent_writers_reach_a_viewer_exactly_once_in_seq_order(server, manager, room):
    with open_stream(server, manager, room) as client:
        start = len(client.entry_ids())
        results = race(8, lambda i: [add_entry(room, manager, f"writer {i} #{n}") for n in range(5)])
        batches = [r for r in results if not isinstance(r, BaseException)]
        assert len(batches) == 8, results
        expected = sorted(seq for batch in batches for seq in batch)
        assert expected == list(range(expected[0], expected[0] + 40))
        assert client.wait_for(lambda c: len(c.entry_ids()) >= start + 40, 30)
        sentinel = settle(server, [client], room, manager)  # nothing repeated, nothing late
        assert client.entry_ids()[start:] == [*expected, sentinel]
