"""Staffing at once (declaring from a playbook): what adding people one by one does, in fewer queries."""

from __future__ import annotations

import contextlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents import services
from incidents.models import IncidentRole, Notification, OutboundEmail, RoleAssignment, TeamEvent
from incidents.permissions import incident_perms
from incidents.services.team import Staffing, TeamError, assign_role, team_staff
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def role(slug: str) -> IncidentRole:
    return IncidentRole.objects.get(slug=slug)


def test_staffing_at_once_is_what_adding_one_by_one_does(manager):
    """`team_staff` (declaring from a playbook): the same assignments, permissions, events, timeline entries
    and notifications as `assign_role` one after another; a pick it would refuse is skipped with its reason
    and the others go ahead; the queries do not grow with the people."""
    people = [UserFactory.create(display_name=n) for n in ("Erik", "Priya", "Sofia", "Daniel")]
    gone = UserFactory.create(display_name="Left", is_active=False)
    picks = [
        (people[0], "comms-lead", people[2]),
        (people[1], "legal", None),
        (people[0], "scribe", None),  # a second role for someone this same change adds
        (gone, "legal", None),
        (people[2], "spokesperson", None),
    ]
    one, many = (
        services.incident_declare(actor=manager, title="T", scenario="other", severity="sev2") for _ in "12"
    )
    for user, slug, backup in picks:
        with contextlib.suppress(TeamError):
            assign_role(incident=one, actor=manager, user=user, role=role(slug), backup=backup, note="pb")
    staffed, skipped = team_staff(
        incident=many,
        actor=manager,
        picks=[Staffing(user=u, role=role(s), backup=b) for u, s, b in picks],
        note="pb",
    )
    assert len(staffed) == 4
    assert skipped == ["Left has no active account."]

    def shape(incident):
        return (
            sorted(
                RoleAssignment.objects.current()
                .filter(incident=incident)
                .values_list("user_id", "role__slug", "backup_id", "start_note")
            ),
            [incident_perms(u, incident) for u in people],
            list(
                TeamEvent.objects.filter(incident=incident).order_by("pk").values_list("kind", "subject_id")
            ),
            list(incident.entries.order_by("seq").values_list("kind", "body")),
            sorted(
                (r, t.replace(incident.reference, "REF"))
                for r, t in Notification.objects.filter(incident=incident).values_list("recipient_id", "text")
            ),
        )

    assert shape(many) == shape(one)
    # One statement wrote the four entries: gapless seqs, each fragment naming its own.
    entries = list(many.entries.order_by("seq").values_list("seq", "html"))
    assert [seq for seq, _html in entries] == list(range(entries[0][0], entries[0][0] + len(entries)))
    assert all(f'data-seq="{seq}"' in html for seq, html in entries)
    notified = Notification.objects.filter(incident=many).count()
    assert notified == 4  # Erik twice (added, then a second role), Priya, Sofia
    assert OutboundEmail.objects.filter(to__in=[u.email for u in people]).count() == 2 * notified

    # The queries: a fixed number whoever is added (their timeline entries go in one statement, their
    # notifications in two INSERTs).
    def count(n: int) -> int:
        incident = services.incident_declare(actor=manager, title="T", scenario="other", severity="sev2")
        legal = role("legal")
        picks = [Staffing(user=UserFactory.create(), role=legal) for _ in range(n)]
        with CaptureQueriesContext(connection) as captured:
            team_staff(incident=incident, actor=manager, picks=picks)
        return len(captured)

    assert count(4) == count(2)
