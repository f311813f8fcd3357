"""The living summary: kept by the commander or a deputy, each edit a new version on the timeline, a stale
edit refused with the typed text kept, one winner in a race; shown on the dashboard (issue #20, item 5)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from incidents.models import Incident, NotAllowed, SummaryVersion, TimelineEntry
from incidents.reviews.exports import collect, to_json, to_markdown
from incidents.services.summary import StaleSummary, summary_edit
from tests.factories import IncidentFactory, UserFactory, give_role
from tests.helpers import race, snapshot

HX = {"HTTP_HX_REQUEST": "true"}
TABLES = ["incidents_incident", "incidents_summaryversion", "incidents_timelineentry"]


def edit_url(incident):
    return reverse("incidents:summary-edit", args=[incident.code])


def form(expected: int, summary: str, **parts: str) -> dict[str, str]:
    return {
        "expected_version": str(expected),
        "summary": summary,
        "known": "",
        "unknown": "",
        "next_update": "",
    } | parts


@pytest.mark.django_db
def test_the_commander_saves_versions_that_land_on_the_timeline(manager_client, incident, manager):
    response = manager_client.post(
        edit_url(incident),
        form(
            0,
            "Double charges stopped at 14:10.\nRefunds pending.",
            known="About 2,300 orders hit.",
            unknown="Whether card issuers will reverse fees.",
            next_update="16:00 on the status page",
        ),
        **HX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-live="summary"' in html
    assert 'data-live-version="1"' in html
    assert "About 2,300 orders hit." in html
    incident.refresh_from_db()
    assert (incident.summary_version, incident.state_line) == (1, "Double charges stopped at 14:10.")
    entry = TimelineEntry.objects.filter(incident=incident, kind="summary").get()
    assert entry.author == manager
    assert "Summary v1: Double charges stopped" in entry.body
    assert "Next update: 16:00" in entry.body
    assert 'data-kind="summary"' in entry.html  # what the room's timeline.js reacts to

    manager_client.post(edit_url(incident), form(1, "Refunds issued."), **HX)
    assert list(SummaryVersion.objects.filter(incident=incident).values_list("number", "summary")) == [
        (2, "Refunds issued."),
        (1, "Double charges stopped at 14:10.\nRefunds pending."),
    ]
    history = manager_client.get(reverse("incidents:summary-history", args=[incident.code])).content.decode()
    assert "Refunds issued." in history
    assert "Refunds pending." in history


@pytest.mark.django_db
def test_someone_other_than_the_commander_or_deputy_gets_403_and_nothing_changes(client, incident, member):
    give_role(incident, member, "comms-lead")
    client.force_login(member)
    before = snapshot(TABLES)
    assert client.post(edit_url(incident), form(0, "My own take"), **HX).status_code == 403
    assert client.get(edit_url(incident), **HX).status_code == 403
    with pytest.raises(NotAllowed):
        summary_edit(incident=incident, actor=member, expected_version=0, summary="My own take")
    assert snapshot(TABLES) == before
    room = client.get(reverse("incidents:room", args=[incident.code])).content.decode()
    assert "Update the summary" not in room
    assert "Write the summary" not in room


@pytest.mark.django_db
def test_a_deputy_may_keep_the_summary(client, incident, member):
    give_role(incident, member, "deputy")
    client.force_login(member)
    assert client.post(edit_url(incident), form(0, "Deputy's view"), **HX).status_code == 200
    assert SummaryVersion.objects.get(incident=incident).author == member


@pytest.mark.django_db
def test_a_stale_edit_is_409_and_keeps_the_typed_text(manager_client, incident, manager, member):
    give_role(incident, member, "deputy")
    summary_edit(incident=incident, actor=member, expected_version=0, summary="Deputy wrote this first")
    before = snapshot(TABLES)
    response = manager_client.post(
        edit_url(incident), form(0, "My careful paragraph", known="What I typed"), **HX
    )
    html = response.content.decode()
    assert response.status_code == 409
    assert "My careful paragraph" in html
    assert "What I typed" in html
    assert "Deputy wrote this first" in html  # theirs, to compare
    assert 'name="expected_version" value="1"' in html  # saving again is checked against theirs
    assert snapshot(TABLES) == before
    assert manager_client.post(edit_url(incident), form(1, "My careful paragraph"), **HX).status_code == 200


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"summary": "   "}, "Write the current summary"), ({"summary": "x" * 1001}, "under 1000")],
)
@pytest.mark.django_db
def test_bad_input_is_422_and_writes_nothing(manager_client, incident, fields, message):
    before = snapshot(TABLES)
    response = manager_client.post(edit_url(incident), form(0, "") | fields, **HX)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert snapshot(TABLES) == before


@pytest.mark.django_db(transaction=True)
def test_two_editors_racing_on_one_version_one_wins(manager):
    incident = IncidentFactory.create(declared_by=manager)
    deputy = UserFactory.create(display_name="Dana Deputy")
    give_role(incident, deputy, "deputy")
    editors = [manager, deputy]

    def save(i: int) -> SummaryVersion:
        fresh = Incident.objects.get(pk=incident.pk)
        return summary_edit(incident=fresh, actor=editors[i], expected_version=0, summary=f"Take {i}")

    results = race(2, save)
    winners = [r for r in results if isinstance(r, SummaryVersion)]
    losers = [r for r in results if isinstance(r, StaleSummary)]
    assert (len(winners), len(losers)) == (1, 1)
    assert list(SummaryVersion.objects.filter(incident=incident).values_list("number", "summary")) == [
        (1, winners[0].summary)
    ]
    assert TimelineEntry.objects.filter(incident=incident, kind="summary").count() == 1
    incident.refresh_from_db()
    assert (incident.summary_version, incident.current_summary) == (1, winners[0].summary)


@pytest.mark.django_db
def test_dashboard_rows_exports_and_notifications_show_the_current_state(
    manager_client, incident, manager, member
):
    dashboard = manager_client.get(reverse("incidents:dashboard")).content.decode()
    assert "A customer video about a faulty product is spreading." in dashboard  # the declaration's, first
    summary_edit(
        incident=incident, actor=manager, expected_version=0, summary="Refunds are out.\nDetails below."
    )
    dashboard = manager_client.get(reverse("incidents:dashboard")).content.decode()
    assert '<p class="incident-state">Refunds are out.</p>' in dashboard
    give_role(incident, member, "legal")
    assert "Now: Refunds are out." in member.notifications.latest("created_at").text
    data = collect(Incident.objects.get(pk=incident.pk))
    assert "## Current summary (v1)" in to_markdown(data)
    assert '"current_summary": "Refunds are out.\\nDetails below."' in to_json(data)


@pytest.mark.django_db
def test_without_htmx_the_editor_is_a_page_and_a_save_goes_back_to_the_room(manager_client, incident):
    page = manager_client.get(edit_url(incident))
    assert page.status_code == 200
    assert "<html" in page.content.decode()
    assert 'name="summary"' in page.content.decode()
    saved = manager_client.post(edit_url(incident), form(0, "Calmer now."))
    assert saved.status_code == 302
    assert saved["Location"] == incident.room_url + "#summary-region"
    refused = manager_client.post(edit_url(incident), form(0, "Stale."))
    assert refused.status_code == 409
    assert "<html" in refused.content.decode()
    assert "Stale." in refused.content.decode()
