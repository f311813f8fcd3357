"""The page side of live regions: each page names its one stream, each region its version and fragment, and
the fragment views answer one region at a time; a fresh stream pass is only given for what the viewer sees."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from incidents import live
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


def regions(html: str) -> dict[str, int]:
    """data-live name → version of every live region in a response."""
    found = re.findall(r'data-live="([a-z]+)" data-live-key="[^"]*" data-live-version="(\d+)"', html)
    return {name: int(version) for name, version in found}


def test_the_dashboard_names_its_stream_and_its_regions(manager_client, manager):
    before = live.now_stamp()
    html = manager_client.get(reverse("incidents:dashboard")).content.decode()
    stream = re.search(r'data-live-stream="([^"]+)"', html)
    assert stream is not None
    assert stream.group(1).startswith("/events/live?t=")
    grant = live.read_live_token(stream.group(1).split("t=", 1)[1])
    assert grant.topics == {f"u:{manager.pk}", "dash"}
    shown = regions(html)
    assert {"dash", "mine", "notifications"} <= set(shown)
    assert shown["dash"] >= before  # rendered now: a nudge from before it is not newer
    assert 'hx-trigger="every' not in html  # no polling left in the page


def test_each_dashboard_region_answers_alone(manager_client):
    for target in ("open-incidents", "my-incidents", "dash-notifications"):
        response = manager_client.get(
            reverse("incidents:dashboard"), headers={"HX-Request": "true", "HX-Target": target}
        )
        html = response.content.decode()
        assert html.lstrip().startswith(("<div id", "<section id")), target
        assert f'id="{target}"' in html
        assert "<body" not in html


def test_the_notifications_region_reads_no_incident_listing(manager_client, manager):
    """Re-fetched on every notification a person gets (bench `flow`: 14 of 65 re-fetches): it shows the
    notifications and reads nothing of the open incidents' listing."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from incidents.models import Notification

    incident = IncidentFactory.create(declared_by=manager, title="Checkout outage")
    Notification.objects.create(recipient=manager, incident=incident, text="Your turn: Legal review", url="/")
    with CaptureQueriesContext(connection) as captured:
        response = manager_client.get(
            reverse("incidents:dashboard"), headers={"HX-Request": "true", "HX-Target": "dash-notifications"}
        )
    html = response.content.decode()
    assert "Your turn: Legal review" in html
    assert "Checkout outage" not in html  # the listing's row is not part of this region
    read = " ".join(q["sql"] for q in captured.captured_queries)
    assert "incidents_incident" not in read
    assert "incidents_notification" in read
    # The whole page still has both.
    page = manager_client.get(reverse("incidents:dashboard")).content.decode()
    assert "Your turn: Legal review" in page
    assert "Checkout outage" in page


def test_the_room_header_answers_alone_without_the_room_s_queries(
    manager_client, manager, django_assert_max_num_queries
):
    incident = IncidentFactory.create(declared_by=manager)
    with django_assert_max_num_queries(12):
        response = manager_client.get(
            reverse("incidents:room", args=[incident.code]),
            headers={"HX-Request": "true", "HX-Target": "incident-header"},
        )
    html = response.content.decode()
    assert html.lstrip().startswith('<header id="incident-header"')
    assert f'data-live-key="{incident.pk}"' in html
    assert "timeline-entries" not in html


def test_a_fresh_pass_is_given_only_for_what_the_viewer_may_see(client, manager, member):
    secret = IncidentFactory.create(declared_by=manager, is_restricted=True)
    client.force_login(member)
    url = reverse("incidents:live-stream")
    refused = client.get(url, {"incident": str(secret.code)})
    assert refused.status_code == 404
    assert client.get(url, {"incident": "not-a-code"}).status_code == 404
    mine = client.get(url, {"dash": "1"})
    assert mine.status_code == 200
    assert mine["Cache-Control"] == "no-store"
    grant = live.read_live_token(mine.json()["url"].split("t=", 1)[1])
    assert grant.topics == {f"u:{member.pk}", "dash"}
    client.force_login(manager)
    theirs = client.get(url, {"incident": str(secret.code)}).json()["url"]
    assert live.read_live_token(theirs.split("t=", 1)[1]).topics == {f"u:{manager.pk}", f"i:{secret.pk}"}
