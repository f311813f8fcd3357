"""Shared by the live-stream tests: entries written the way the contract demands, streams opened and waited
on, and the `room` and `server` fixtures (registered in conftest.py through pytest_plugins)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.db import transaction
from django.utils.html import escape

from bench.processes import AsgiServer
from incidents import live
from incidents.models import Incident, TimelineEntry, User
from tests.factories import IncidentFactory
from tests.live_server_asgi import SSEClient


def add_entry(
    incident: Incident,
    author: User | None,
    body: str = "note",
    *,
    publish: bool = True,
    privileged: bool = False,
    carry: bool = False,
) -> int:
    """Append one entry as the contract demands: seq under the incident row lock, html rendered once,
    the doorbell only after commit (or, with publish=False, a doorbell lost on the way)."""
    with transaction.atomic():
        locked = Incident.objects.select_for_update().only("id", "timeline_seq").get(pk=incident.pk)
        seq = locked.timeline_seq + 1
        Incident.objects.filter(pk=locked.pk).update(timeline_seq=seq)
        entry = TimelineEntry.objects.create(
            incident_id=locked.pk,
            seq=seq,
            kind="note",
            author=author,
            body=body,
            is_privileged=privileged,
            html=f'<li id="entry-{seq}">{escape(body)}</li>',
        )
        if publish and carry:  # the doorbell brings the committed fragment along, as the composer's does
            live.publish_on_commit(incident_id=locked.pk, seq=seq, html=entry.html, privileged=privileged)
        elif publish:
            transaction.on_commit(lambda: live.publish({"i": locked.pk, "s": seq}))
    return seq


def newest_seq(incident: Incident) -> int:
    return Incident.objects.values_list("timeline_seq", flat=True).get(pk=incident.pk)


def stream_path(token: str, after: int | None = None) -> str:
    path = f"/events/timeline?t={quote(token)}"
    return path if after is None else f"{path}&after={after}"


def open_stream(server: AsgiServer, user: User, incident: Incident, **kwargs) -> SSEClient:
    """Connect and wait for the replay and first presence: from then on the stream is live."""
    token = live.mint_stream_token(user=user, incident=incident)
    client = SSEClient.open(server.url, stream_path(token, kwargs.pop("after", None)), **kwargs)
    assert client.status == 200, (client.status, client.raw)
    assert client.wait_for(lambda c: bool(c.presence()), 5), client.raw
    return client


def seqs_in(incident: Incident) -> list[int]:
    return list(TimelineEntry.objects.filter(incident=incident).order_by("seq").values_list("seq", flat=True))


@pytest.fixture
def room(manager):
    """An unrestricted incident with a few entries before anyone connects."""
    incident = IncidentFactory.create(declared_by=manager, title="Checkout charged customers twice")
    for i in range(3):
        add_entry(incident, manager, f"before {i}", publish=False)
    return incident


@pytest.fixture
def server(asgi_server):
    """The session's server; each test starts and ends with no stream open in it."""
    asgi_server.wait_for_stats(lambda s: s["streams"] == 0, timeout=30)
    yield asgi_server
    asgi_server.wait_for_stats(lambda s: s["streams"] == 0, timeout=10)


def counter(server: AsgiServer, name: str) -> int:
    """One of the events process's counters (/events/stats)."""
    return int(server.stats().get("counters", {}).get(name, 0))


def settle(
    server: AsgiServer, clients: list[SSEClient], incident: Incident, author: User, *, ticks: int = 2
) -> int:
    """Let the events process do all it was going to do, then prove the streams have received it: `ticks`
    safety ticks pass (each may repair or re-check), then a sentinel entry is written and every client waits
    for it. A stream is ordered, so anything sent before the sentinel has arrived. Returns the sentinel's seq.
    Conditions all the way: on a busy machine this takes longer, never flakes."""
    start = counter(server, "ticks")
    server.wait_for_stats(lambda s: s.get("counters", {}).get("ticks", 0) >= start + ticks, timeout=60)
    sentinel = add_entry(incident, author, "sentinel")
    for client in clients:
        assert client.wait_for(lambda c: sentinel in c.entry_ids(), 30), "the sentinel never arrived"
    return sentinel
