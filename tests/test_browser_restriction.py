"""Restricting an incident from its room in real Chromium: the commander opens the control in the header, gives
a reason, is asked for a fresh code in place (nothing is recorded before), and the header and timeline
update in the same click, with no CSP violation; a colleague off the team then gets a 404."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from incidents.models import Incident
from tests.browser import csp_violations, log_in, settled, watch
from tests.factories import IncidentFactory
from tests.helpers import current_code
from tests.test_browser_accounts import age_browser_session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_commander_restricts_the_incident_after_a_fresh_code(
    browser: Browser, asgi_server, manager, outsider
):
    incident = IncidentFactory.create(declared_by=manager, title="Employee named in a viral post")
    base = asgi_server.url
    context = browser.new_context()
    page = context.new_page()
    problems = watch(page)
    log_in(page, base, manager.email)
    page.goto(f"{base}{incident.room_url}")
    age_browser_session(context, 6 * 60)

    header = page.locator("#incident-header")
    header.locator("details.restriction-change summary").click()
    header.get_by_label("Reason").fill("Legal: an employee is named")
    header.get_by_role("button", name="Restrict to the team").click()
    code_field = page.get_by_label("Confirm with a code from your authenticator app")
    expect(code_field).to_be_visible()
    assert not Incident.objects.get(pk=incident.pk).is_restricted  # nothing recorded before the code

    code_field.fill(current_code(manager))
    page.get_by_role("button", name="Confirm").click()
    settled(page)
    expect(header.get_by_text("Restricted to the team", exact=True)).to_be_visible()
    expect(page.locator("#timeline-entries")).to_contain_text("Legal: an employee is named")
    assert Incident.objects.get(pk=incident.pk).is_restricted
    assert problems == []
    assert csp_violations(page) == []

    other = browser.new_context().new_page()
    log_in(other, base, outsider.email)
    response = other.goto(f"{base}{incident.room_url}")
    assert response is not None
    assert response.status == 404
