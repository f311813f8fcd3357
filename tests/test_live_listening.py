"""Listening, publishing and the after-action summary on the push path (#15, #17, #18).

Each change nudges its region after commit, once per transaction however many rows it touched, routed to
the right streams; a restricted incident's changes never reach a non-member. And nothing on those pages
polls any more (their regions are live.js regions, with live.js's own fallback).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from incidents import live
from incidents.listening import live as listening_live
from incidents.listening.ingest import enrich_pending, ingest
from incidents.listening.models import MentionRollup, SpikeAlert
from incidents.listening.spikes import check_watches
from incidents.models import Incident
from incidents.services.deadlines import deadline_complete, task_add
from incidents.services.timeline import timeline_append
from tests.factories import IncidentFactory, give_role
from tests.factories_listening import make_source, make_watch, record
from tests.factories_publishing import of, release, run_all
from tests.factories_publishing import platforms as platforms
from tests.factories_statements import cast as cast
from tests.factories_statements import fully_approved
from tests.factories_statements import seeded as seeded
from tests.test_live_nudges import has, heard, listener, marker, open_live, others, server

__all__ = ["cast", "listener", "platforms", "seeded", "server"]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]


def regions(payloads: list[dict[str, Any]]) -> list[tuple[str, str, int | None, bool]]:
    """(region, key, incident, to dashboards) of every nudge heard, in order."""
    return [(str(p["n"][0]), str(p["n"][1]), p.get("i"), bool(p.get("b"))) for p in payloads]


def storm(n: int, *, start: int = 0, **fields: Any) -> list[Any]:
    return [record(start + i, reach=100, sentiment="negative", **fields) for i in range(n)]


# --- the seam: one delivery per transaction, nothing on rollback ------------------------------------------------


@pytest.fixture
def seen():
    got: list[listening_live.Change] = []
    listening_live.connect(got.append)
    yield got
    listening_live.disconnect(got.append)


def test_changes_of_one_transaction_are_merged_and_delivered_after_commit(seen):
    with transaction.atomic():
        for n in range(1000):
            listening_live.changed(region="mentions", watch_ids=[n % 3 + 1])
        listening_live.changed(region="queue", incident_id=7)
        listening_live.changed(region="queue", incident_id=7)
        assert seen == []  # not before the commit
    assert seen == [
        listening_live.Change(region="mentions", watch_ids=(1, 2, 3)),
        listening_live.Change(region="queue", incident_id=7),
    ]


def _failing(**change: Any) -> None:
    with transaction.atomic():
        listening_live.changed(**change)
        raise RuntimeError("the write fails")


def test_a_rolled_back_change_announces_nothing_and_a_rolled_back_savepoint_keeps_the_rest(seen):
    with pytest.raises(RuntimeError):
        _failing(region="mentions", watch_ids=[1])
    assert seen == []

    with transaction.atomic():
        listening_live.changed(region="sources")
        with pytest.raises(RuntimeError):
            _failing(region="queue", incident_id=3)
    # The outer change is delivered; the merged batch may carry the savepoint's too (a spare fetch, never a
    # lost one), but a savepoint that began the batch takes it with it:
    assert listening_live.Change(region="sources") in seen

    seen.clear()
    with transaction.atomic():
        with pytest.raises(RuntimeError):
            _failing(region="queue", incident_id=3)
        listening_live.changed(region="sources")
    assert seen == [listening_live.Change(region="sources")]


def _nudge_then_fail() -> None:
    with transaction.atomic():
        live.nudge_on_commit("playbook", "5", incident_id=5)
        raise RuntimeError("a savepoint fails")


def test_the_same_nudge_twice_in_a_transaction_goes_once_and_a_rolled_back_one_is_not_counted(listener):
    with transaction.atomic():
        for _ in range(3):
            live.nudge_on_commit("playbook", "4", incident_id=4)
        live.nudge_on_commit("playbook", "4", incident_id=4, dash=True)  # another route: another nudge
    assert regions(heard(listener)) == [("playbook", "4", 4, False), ("playbook", "4", 4, True)]

    with transaction.atomic():
        with pytest.raises(RuntimeError):
            _nudge_then_fail()
        live.nudge_on_commit("playbook", "5", incident_id=5)  # not mistaken for the rolled-back one
    assert regions(heard(listener)) == [("playbook", "5", 5, False)]


# --- listening ------------------------------------------------------------------------------------------------


def test_a_webhook_batch_of_a_thousand_mentions_is_one_nudge_per_region(listener, manager):
    incident = IncidentFactory.create(declared_by=manager)
    brand = make_watch("Northwind", name="Northwind brand")
    room_watch = make_watch("Northwind", name="Room watch", incident=incident)
    source = make_source()
    result = ingest(source=source, records=storm(1000))
    assert result.stored == 1000
    assert sorted(result.watch_ids) == sorted([brand.pk, room_watch.pk])
    got = [r for r in regions(heard(listener)) if r[0] in ("mentions", "monitoring", "queue")]
    assert sorted(got, key=str) == sorted(
        [
            ("mentions", str(incident.pk), incident.pk, False),  # the room's panel
            ("monitoring", "org", None, True),  # the organisation watch: every monitoring page
            ("monitoring", "org", incident.pk, True),  # the incident's watch: who may see the incident
        ],
        key=str,
    )


def test_a_restricted_incident_s_listening_changes_reach_its_members_only(server, manager, member, outsider):
    secret = IncidentFactory.create(declared_by=manager, is_restricted=True, title="Board member leak")
    give_role(secret, member, "observer")
    make_watch("Northwind", name="Leak watch", incident=secret)
    source = make_source()
    with (
        open_live(server, member, incident=secret) as room,
        open_live(server, member, dash=True) as monitoring,
        open_live(server, outsider, dash=True) as theirs,
    ):
        ingest(source=source, records=storm(5))
        assert room.wait_for(lambda c: has(c, "mentions", str(secret.pk))), room.raw
        assert monitoring.wait_for(lambda c: has(c, "monitoring", "org")), monitoring.raw
        key = marker(IncidentFactory.create(declared_by=manager))
        assert theirs.wait_for(lambda c: has(c, "marker", key)), theirs.raw
        assert others(theirs) == []


def test_a_claim_in_the_queue_nudges_the_queue_and_the_room_s_panel(listener, manager):
    from incidents.listening.models import ResponseItem
    from incidents.listening.services.queue import item_claim

    incident = IncidentFactory.create(declared_by=manager)
    make_watch("Northwind", name="Room watch", incident=incident, queue_min_reach=10)
    ingest(source=make_source(), records=storm(3))
    enrich_pending()
    item = ResponseItem.objects.filter(incident=incident).first()
    assert item is not None
    heard(listener, 1.0)  # what the ingest said
    item_claim(item=item, actor=manager)
    got = regions(heard(listener))
    assert ("queue", str(incident.pk), incident.pk, False) in got
    assert ("mentions", str(incident.pk), incident.pk, False) in got
    assert len(got) == len(set(got))  # each once


def _quiet_history(watch: Any) -> None:
    now = timezone.now()
    MentionRollup.objects.bulk_create(
        MentionRollup(
            watch=watch,
            bucket=now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=h),
            total=3,
            neutral=3,
        )
        for h in range(1, 96)
    )


def test_a_spike_alert_nudges_the_crisis_managers_dashboards_and_the_monitoring_pages(listener, manager):
    brand = make_watch("Northwind", name="Northwind brand")
    _quiet_history(brand)
    ingest(source=make_source(), records=storm(60))
    enrich_pending()
    heard(listener, 1.0)
    assert check_watches() == 1
    alert = SpikeAlert.objects.get(watch=brand)
    payloads = heard(listener)
    got = regions(payloads)
    # Her dashboard's notifications and her bell (the alert is a notification to her), and the pages that
    # show organisation alerts.
    mine = [p for p in payloads if p.get("u") == [manager.pk]]
    assert {(str(p["n"][0]), str(p["n"][1])) for p in mine} >= {("notifications", "me"), ("bell", "me")}
    assert ("alert", str(alert.pk), None, True) in got
    assert ("monitoring", "org", None, True) in got
    assert len(got) == len(set(got))


def test_a_source_s_health_nudges_the_sources_page_which_answers_with_its_region(listener, manager, client):
    source = make_source(name="Brand24")
    with transaction.atomic():
        source.consecutive_failures = 2
        source.save(update_fields=["consecutive_failures"])
        listening_live.changed(region="sources")
        listening_live.changed(region="sources")
    assert regions(heard(listener)) == [("sources", "org", None, True)]
    client.force_login(manager)
    region = client.get(reverse("listening:sources"), headers={"HX-Request": "true"}).content.decode()
    assert 'id="source-list" data-live="sources"' in region
    assert "<html" not in region
    assert "Brand24" in region


# --- publishing -------------------------------------------------------------------------------------------


def test_every_move_of_a_delivery_nudges_the_statement_page_s_channels(listener, cast, platforms):
    statement = fully_approved(cast)
    heard(listener, 1.0)
    release(cast, statement, platforms.m)
    key = ("deliveries", str(statement.code), statement.incident_id, False)
    assert key in regions(heard(listener))  # queued
    platforms.mastodon.fault("/api/v1/statuses", 503)
    assert run_all(limit=1) == ["queued"]  # the worker: sending, then retrying
    assert regions(heard(listener)).count(key) == 2
    assert run_all() == ["published"]
    assert key in regions(heard(listener))
    assert of(statement, platforms.m).is_published


def test_a_restricted_statement_s_delivery_nudges_reach_members_only(server, cast, platforms, outsider):
    statement = fully_approved(cast)
    incident = Incident.objects.get(pk=statement.incident_id)
    incident.is_restricted = True
    incident.save(update_fields=["is_restricted"])
    with (
        open_live(server, outsider, dash=True) as theirs,
        open_live(server, cast.publisher, incident=incident) as page,
    ):
        release(cast, statement, platforms.m)
        run_all()
        assert page.wait_for(lambda c: has(c, "deliveries", str(statement.code))), page.raw
        key = marker(IncidentFactory.create(declared_by=cast.publisher))
        assert theirs.wait_for(lambda c: has(c, "marker", key)), theirs.raw
        assert others(theirs) == []


# --- the after-action summary -------------------------------------------------------------------------------


def test_tasks_and_a_drill_s_timeline_nudge_the_summary(listener, manager, member):
    drill = IncidentFactory.create(declared_by=manager, is_drill=True)
    give_role(drill, member, "observer")
    key = ("playbook", str(drill.pk), drill.pk, False)
    heard(listener, 1.0)  # the declaration's and the team's
    with transaction.atomic():
        task = task_add(
            incident=drill,
            actor=manager,
            title="Call the regulator",
            owner=manager,
            due_at=timezone.now() + timedelta(hours=1),
        )
    assert regions(heard(listener)).count(key) == 1  # once, though the task is a deadline and an entry
    deadline_complete(deadline=task, actor=manager)
    assert key in regions(heard(listener))
    timeline_append(incident=drill, kind="note", author=member, body="Regulator called back")
    assert key in regions(heard(listener))


# --- nothing polls --------------------------------------------------------------------------------------------


def test_listening_publishing_and_playbook_pages_do_not_poll():
    base = Path(settings.BASE_DIR)
    for folder in ("listening", "publishing", "playbooks"):
        for template in (base / "templates" / folder).glob("*.html"):
            assert not re.search(r"every\s+\d+m?s", template.read_text()), template
    script = (base / "static" / "js" / "listening.js").read_text()
    assert "setInterval" not in script
    assert "data-version-url" not in script
    for name in ("panel.html", "queue.html", "monitoring.html", "alert.html", "sources.html"):
        assert 'data-live="' in (base / "templates" / "listening" / name).read_text(), name
    assert 'data-live="deliveries"' in (base / "templates" / "publishing" / "region.html").read_text()
    assert 'data-live="playbook"' in (base / "templates" / "playbooks" / "summary.html").read_text()
