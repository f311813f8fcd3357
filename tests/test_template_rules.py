"""Rules stay out of templates: the named properties and view fields the templates ask instead of comparing
strings, a scan that no template compares a status, state or kind to a string, and the list rows built with
format_html (every value escaped)."""

from __future__ import annotations

import re
import zoneinfo
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest
from django.conf import settings
from django.utils import timezone, translation

from incidents import services
from incidents.models import Deadline, DeadlineState, Incident, TimelineEntry, User
from incidents.templatetags.warroom import badges, dashboard_row, my_incident_row, past_row
from tests.factories import IncidentFactory

COMPARISON = re.compile(r"\.(status|state|kind|slug)\s*[!=]=\s*['\"]")


def test_no_template_compares_a_status_state_kind_or_slug_to_a_string():
    roots = [Path(str(d)) for d in cast("list[str]", settings.TEMPLATES[0]["DIRS"])]
    offenders = []
    for root in roots:
        for path in root.rglob("*.html"):
            name = path.relative_to(root).as_posix()
            text = path.read_text()
            offenders += [f"{name}: {m.group(0)}" for m in COMPARISON.finditer(text)]
    assert offenders == []


@pytest.mark.parametrize(
    ("kind", "says"),
    [("correction", "Corrects"), ("retraction", "Retracts"), ("pin", "Pinned"), ("unpin", "Unpinned")],
)
def test_an_entry_about_another_says_what_it_does_to_it(kind, says):
    assert TimelineEntry(kind=kind).refers_as == says


@pytest.mark.django_db
def test_a_correction_and_a_pin_name_their_target_in_the_stored_html(incident, manager):
    original = services.timeline_post(incident=incident, actor=manager, kind="note", body="Two thousand")
    correction = services.timeline_correct(incident=incident, actor=manager, seq=original.seq, body="20,000")
    pin = services.timeline_pin(incident=incident, actor=manager, seq=original.seq, pinned=True)
    assert f'Corrects <a href="#entry-{original.seq}">#{original.seq}</a>' in correction.html
    assert f'Pinned <a href="#entry-{original.seq}">#{original.seq}</a>' in pin.html


def test_deadline_properties():
    due = timezone.now()
    deadline = Deadline(due_at=due, original_due_at=due, state=DeadlineState.OPEN, escalation_level=0)
    assert (deadline.is_open, deadline.is_done, deadline.escalated_to, deadline.was_moved) == (
        True,
        False,
        "",
        False,
    )
    deadline.escalation_level = 1
    assert deadline.escalated_to == "backup"
    deadline.escalation_level = 2
    assert deadline.escalated_to == "the commander"
    deadline.due_at = due + timedelta(minutes=15)
    deadline.state = DeadlineState.DONE
    assert (deadline.is_open, deadline.is_done, deadline.was_moved) == (False, True, True)


@pytest.mark.django_db
def test_list_rows_escape_every_value(manager):
    manager.display_name = "<b>Maja</b>"
    manager.save(update_fields=["display_name"])
    incident: Incident = IncidentFactory.create(
        declared_by=manager, title="<script>alert(1)</script> & co", is_drill=True, is_restricted=True
    )
    incident.resolved_at = incident.declared_at + timedelta(hours=2)
    rows = [dashboard_row(incident), my_incident_row(incident, []), past_row(incident)]
    for html in rows:
        assert "<script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
        assert "DRILL" in html
        assert "Restricted" in html
    assert "Commander: &lt;b&gt;Maja&lt;/b&gt;" in rows[0]
    assert "after 2h 00m" in rows[2]
    assert badges(incident) in rows[0]


@pytest.mark.django_db
def test_a_row_without_a_commander_says_so():
    incident = IncidentFactory.create(commander=None, declared_by=User.objects.create(email="x@example.com"))
    assert "Commander: nobody yet" in dashboard_row(incident)


@pytest.mark.django_db
def test_memoised_rows_follow_every_value_they_show(manager):
    """The list rows are memoised on the values they show: a change of any of them, of the viewer's zone
    or language, gives the new row at once (nothing is cached by incident alone)."""
    incident: Incident = IncidentFactory.create(declared_by=manager, title="Before")
    first = dashboard_row(incident)
    assert dashboard_row(incident) == first
    incident.title = "After"
    incident.severity = "sev1"
    assert "After" in dashboard_row(incident)
    assert "incident-row-sev1" in dashboard_row(incident)
    assert "After" in my_incident_row(incident, [])
    assert "After" in past_row(incident)
    assert incident.commander is not None
    incident.commander.display_name = "Renamed Commander"
    assert "Commander: Renamed Commander" in dashboard_row(incident)
    with timezone.override(zoneinfo.ZoneInfo("Asia/Tokyo")):
        assert "JST" in dashboard_row(incident)
        assert "JST" in past_row(incident)
    with translation.override("pl"):
        polish = dashboard_row(incident)
    assert polish != dashboard_row(incident)
