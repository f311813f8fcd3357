"""Listening pages: who may see and do what (404 for an invisible incident's mentions, 403 for configuring
without the role), every page renders (and its chart reads rollups, not mentions), GET changes nothing,
query counts do not grow with the data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from incidents.listening.ingest import enrich_pending, ingest
from incidents.listening.models import Mention, SourceKind, Watch
from incidents.listening.services.moderation import hide_request
from incidents.models import OrgRole
from tests.factories import IncidentFactory, UserFactory, give_role
from tests.factories_listening import make_source, make_watch, record
from tests.helpers import snapshot

pytestmark = pytest.mark.django_db
TABLES = [
    "listening_mention",
    "listening_mentionrollup",
    "listening_responseitem",
    "listening_watch",
    "listening_source",
]


def _stock(n: int = 30, *, incident=None):
    org = make_watch("Northwind", name="Northwind brand")
    own = make_watch("#NorthwindFail", incident=incident, name="Own") if incident else None
    source = make_source()
    now = timezone.now()
    ingest(
        source=source,
        records=[
            record(
                i,
                text=f"Northwind #NorthwindFail charged twice {i}",
                published_at=now - timedelta(minutes=3 * i),
                reach=100 * i,
            )
            for i in range(n)
        ],
    )
    enrich_pending()
    return org, own, source


def test_monitoring_page_renders_chart_alerts_and_mentions(manager_client):
    _stock()
    response = manager_client.get(reverse("listening:monitoring"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "ls-chart-svg" in body
    assert "Northwind brand" in body
    assert body.count('class="ls-mention ') == 30
    assert "Scored by" in body


def test_the_chart_reads_rollups_only_and_its_queries_do_not_grow(manager_client):
    _stock(10)
    url = reverse("listening:monitoring") + "?range=24h"
    with CaptureQueriesContext(connection) as small:
        manager_client.get(url, headers={"HX-Request": "true"})
    source = make_source()
    ingest(source=source, records=[record(1000 + i, text="Northwind again", reach=i) for i in range(400)])
    with CaptureQueriesContext(connection) as big:
        response = manager_client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert len(big) == len(small)
    chart_sql = [q["sql"] for q in big if "date_bin" in q["sql"]]
    assert chart_sql
    assert all("listening_mention " not in sql and "listening_mention\n" not in sql for sql in chart_sql)


def test_insights_name_top_authors_and_terms(manager_client):
    _stock()
    response = manager_client.get(reverse("listening:insights"))
    assert response.status_code == 200
    assert "@author29" in response.content.decode()  # the loudest
    assert "charged" in response.content.decode()


def test_configuration_is_for_crisis_managers_only(member_client, member):
    before = snapshot(TABLES)
    for name in ("listening:sources", "listening:source-new", "listening:watches", "listening:watch-new"):
        assert member_client.get(reverse(name)).status_code == 403
    response = member_client.post(reverse("listening:watch-new"), {"name": "Sneaky", "include_terms": "x"})
    assert response.status_code == 403
    assert snapshot(TABLES) == before


def test_a_crisis_manager_adds_a_watch_and_a_feed_source(manager_client):
    response = manager_client.post(
        reverse("listening:watch-new"),
        {
            "name": "Northwind brand",
            "include_terms": "Northwind\n@northwind\nNorthwind",
            "exclude_terms": "",
            "min_volume": 10,
            "negative_share": 0.5,
            "queue_min_reach": 1000,
            "sla_min_reach": 10000,
        },
    )
    assert response.status_code == 302
    assert Watch.objects.get().include_terms == ["Northwind", "@northwind"]
    bad = manager_client.post(
        reverse("listening:source-new"),
        {
            "name": "Alerts",
            "kind": "feed",
            "platform": "news",
            "url": "ftp://example.com/feed",
            "poll_interval_seconds": 300,
        },
    )
    assert bad.status_code == 422
    assert "https://" in bad.content.decode()
    ok = manager_client.post(
        reverse("listening:source-new"),
        {
            "name": "Alerts",
            "kind": "feed",
            "platform": "news",
            "url": "https://www.google.com/alerts/feeds/1/2",
            "poll_interval_seconds": 300,
        },
    )
    assert ok.status_code == 302
    assert manager_client.get(ok["Location"]).status_code == 200


def test_the_webhook_source_page_shows_its_address_and_how_to_sign(manager_client, manager):
    source = make_source(kind=SourceKind.WEBHOOK, name="Brand24", owner=manager)
    body = manager_client.get(reverse("listening:source", args=[source.code])).content.decode()
    assert reverse("listening:hook", args=[source.code]) in body
    assert "X-WarRoom-Signature" in body
    assert source.secret in body


def test_room_panel_and_queue_render_for_the_team(client, manager):
    incident = IncidentFactory.create(
        declared_by=manager, title="Checkout charged customers twice #NorthwindFail"
    )
    _stock(incident=incident)
    client.force_login(manager)
    panel = client.get(reverse("listening:panel", args=[incident.code]), headers={"HX-Request": "true"})
    assert panel.status_code == 200
    text = panel.content.decode()
    assert 'id="mentions-panel"' in text
    assert "ls-chart-svg" in text
    queue = client.get(reverse("listening:queue", args=[incident.code]))
    assert queue.status_code == 200
    # Both are live regions of the incident (nudged after each listening change), nothing polls them.
    assert f'data-live="mentions" data-live-key="{incident.pk}"' in text
    assert f'data-live="queue" data-live-key="{incident.pk}"' in queue.content.decode()


def test_room_without_a_watch_proposes_one_from_the_incident(client, manager):
    make_watch("Northwind", "@northwind", name="Brand", exclude_terms=["Northwind Grill"])
    incident = IncidentFactory.create(declared_by=manager, title="Checkout fails #NorthwindFail")
    client.force_login(manager)
    text = client.get(
        reverse("listening:panel", args=[incident.code]), headers={"HX-Request": "true"}
    ).content.decode()
    assert "Start listening" in text
    assert "#NorthwindFail\nNorthwind\n@northwind" in text
    assert "Northwind Grill" in text


def test_an_invisible_incidents_mentions_are_404_and_unchanged(client, manager):
    secret = IncidentFactory.create(declared_by=manager, is_restricted=True, title="Board member arrested")
    _stock(3, incident=secret)
    mention = Mention.objects.filter(incident=secret).first()
    assert mention is not None
    outsider = UserFactory.create(org_role=OrgRole.CRISIS_MANAGER)
    client.force_login(outsider)
    before = snapshot(TABLES)
    for name, data in (
        ("listening:mention-sentiment", {"label": "positive"}),
        ("listening:mention-hide", {"reason_kind": "spam", "reason": "x"}),
        ("listening:mention-unhide", {"reason": "x"}),
    ):
        assert client.post(reverse(name, args=[mention.pk]), data).status_code == 404
    assert snapshot(TABLES) == before


def test_an_observer_may_look_but_not_act(client, manager):
    incident = IncidentFactory.create(declared_by=manager)
    _stock(3, incident=incident)
    observer = UserFactory.create()
    give_role(incident, observer, "observer")
    client.force_login(observer)
    mention = Mention.objects.filter(incident=incident).first()
    assert mention is not None
    before = snapshot(TABLES)
    assert client.get(reverse("listening:panel", args=[incident.code])).status_code == 200
    assert (
        client.post(
            reverse("listening:mention-sentiment", args=[mention.pk]), {"label": "positive"}
        ).status_code
        == 403
    )
    item = incident.response_items.first()
    assert item is not None
    assert client.post(reverse("listening:claim", args=[incident.code, item.pk])).status_code == 403
    assert snapshot(TABLES) == before


def test_get_changes_nothing(manager_client, manager):
    incident = IncidentFactory.create(declared_by=manager)
    _stock(5, incident=incident)
    before = snapshot(TABLES)
    for url in (
        reverse("listening:monitoring"),
        reverse("listening:panel", args=[incident.code]),
        reverse("listening:queue", args=[incident.code]),
        reverse("listening:review-metrics", args=[incident.code]),
        reverse("listening:sources"),
        reverse("listening:watches"),
    ):
        assert manager_client.get(url).status_code == 200, url
    for name in ("listening:claim", "listening:reply", "listening:close", "listening:release"):
        item = incident.response_items.first()
        assert item is not None
        assert manager_client.get(reverse(name, args=[incident.code, item.pk])).status_code == 405
    assert snapshot(TABLES) == before


def test_hidden_mentions_leave_the_list_but_not_the_record(manager_client, manager):
    _stock(3)
    mention = Mention.objects.order_by("pk").first()
    assert mention is not None
    hide_request(mention=mention, actor=manager, reason_kind="spam", reason="bot network")
    body = manager_client.get(reverse("listening:monitoring")).content.decode()
    assert f'id="mention-{mention.pk}"' not in body
    hidden = manager_client.get(reverse("listening:monitoring") + "?hidden=1").content.decode()
    assert f'id="mention-{mention.pk}"' in hidden
    assert Mention.objects.filter(pk=mention.pk, is_hidden=True).exists()
