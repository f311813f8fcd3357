"""Declaring from a playbook staffs every role its approval chains need, or says at once which step has
nobody (issue #15: "a playbook whose chain starts with Legal proposes nobody for Legal")."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incidents import services
from incidents.models import Incident, IncidentRole, RoleAssignment
from incidents.playbooks import declaring
from incidents.playbooks.models import PlaybookRole
from tests.factories import IncidentFactory, give_role
from tests.factories_playbooks import DECLARE_TABLES, HX, declare_post, make_people, make_playbook
from tests.helpers import snapshot

DEFAULT_CHAIN = "Legal → Communications lead → Executive"


@pytest.fixture
def people(db):
    return make_people()


@pytest.fixture
def playbook(manager, people):
    """Proposes a Communications lead (Erik) and Legal (Priya); its chain also needs an Executive."""
    return make_playbook(manager, people)


def _page(client, playbook) -> str:
    response = client.get(reverse("incidents:declare"), {"playbook": str(playbook.code)}, **HX)
    return str(response.content.decode())


def _executive_field(html: str) -> re.Match[str] | None:
    executive = IncidentRole.objects.get(slug="executive")
    return re.search(rf'<input type="text" name="person_role{executive.pk}"[^>]*>', html)


@pytest.mark.django_db
def test_a_step_nobody_could_decide_is_named_on_the_form_at_once(manager_client, playbook):
    html = _page(manager_client, playbook)
    field = _executive_field(html)
    assert field is not None  # the role the chain needs, though the playbook does not list it
    assert "value=" not in field.group(0)  # nobody to propose: nobody has ever held it
    assert "approves statements" in html
    assert f"Step 3 (Executive) of “{DEFAULT_CHAIN}” would have nobody: name an Executive approver" in html


@pytest.mark.django_db
def test_the_person_who_held_the_role_most_often_is_proposed_but_not_twice(
    manager, manager_client, playbook, people
):
    """Erik held Executive most often, but the playbook already proposes him for step 2 and each step needs a
    different person: Daniel, next most often, is proposed; no step is left with nobody."""
    for _ in range(3):
        give_role(IncidentFactory.create(declared_by=manager), people["erik"], "executive")
    give_role(IncidentFactory.create(declared_by=manager), people["daniel"], "executive")
    html = _page(manager_client, playbook)
    field = _executive_field(html)
    assert field is not None
    assert "daniel@northwind.example&gt;" in field.group(0)
    assert "would have nobody" not in html


@pytest.mark.django_db
def test_declaring_staffs_the_proposed_approver_and_the_first_statement_goes_through(
    manager, manager_client, playbook, people
):
    executive = IncidentRole.objects.get(slug="executive")
    with CaptureQueriesContext(connection) as captured:
        response = declare_post(
            manager_client, playbook, **{f"person_role{executive.pk}": "Daniel <daniel@northwind.example>"}
        )
    assert response.status_code == 302
    # Declaring, staffing three people, the checklist, the notifications and the "nobody can decide" check
    # (which reuses the chain steps read for the form) in one request: a budget, so it cannot creep up.
    assert len(captured) <= 62
    incident = Incident.objects.get()
    assert (
        RoleAssignment.objects.current()
        .filter(incident=incident, user=people["daniel"], role=executive)
        .exists()
    )
    draft = services.statement_create(
        incident=incident, actor=manager, title="Holding", channel="x", body="On it."
    )
    submitted = services.statement_submit(statement=draft, actor=manager, version_number=1)
    assert submitted.is_in_review


@pytest.mark.django_db
def test_declaring_with_a_step_left_empty_still_declares_and_says_so(manager_client, playbook):
    before = snapshot(DECLARE_TABLES)
    response = declare_post(manager_client, playbook)
    assert response.status_code == 302
    assert snapshot(DECLARE_TABLES) != before  # a crisis is never held up by its staffing
    room = manager_client.get(response["Location"]).content.decode()
    assert f"Nobody on the team can decide step 3 (Executive) of “{DEFAULT_CHAIN}” yet" in room


@pytest.mark.django_db
def test_the_staffing_rule_is_the_submit_rule(manager, playbook, people):
    """One person proposed for two steps of a chain that wants a different person per step: a gap."""
    give_role(IncidentFactory.create(declared_by=manager), people["daniel"], "executive")
    version = playbook.latest()
    slots = list(version.roles.select_related("role", "person", "backup"))
    executive = IncidentRole.objects.get(slug="executive")
    legal = next(s for s in slots if s.role.slug == "legal")
    legal.person = people["erik"]  # in memory only: Erik proposed for Legal and Communications lead
    staffing = declaring.chain_staffing(version, slots, severity="sev2", declarer=manager)
    assert [s.role_id for s in staffing.extra] == [executive.pk]
    assert any("Step 2 (Communications lead)" in gap for gap in staffing.gaps)


@pytest.mark.django_db
def test_someone_proposed_for_a_role_outside_the_chain_may_still_approve(manager, playbook, people):
    """Daniel is the playbook's scribe; he held Executive most often, so he is proposed for it too."""
    give_role(IncidentFactory.create(declared_by=manager), people["daniel"], "executive")
    version = playbook.latest()
    slots = list(version.roles.select_related("role", "person", "backup"))
    scribe = PlaybookRole(
        version=version, role=IncidentRole.objects.get(slug="scribe"), person=people["daniel"]
    )
    staffing = declaring.chain_staffing(version, [*slots, scribe], severity="sev2", declarer=manager)
    [executive] = staffing.extra
    assert executive.proposed == people["daniel"]  # type: ignore[attr-defined]
    assert staffing.gaps == []
