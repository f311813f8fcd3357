"""A crisis manager's first minute, in real headless Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from incidents.models import Incident, Status
from tests.browser import csp_violations, log_in, settled, watch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_declare_and_run_an_incident_without_reloading(page: Page, live_server, manager):
    problems = watch(page)
    log_in(page, live_server.url, manager.email)
    expect(page.get_by_text("No open incidents.")).to_be_visible()

    page.get_by_role("link", name="Declare incident").first.click()
    page.get_by_label("Title").fill("Payment page down, angry customers on X")
    page.get_by_text("Technical failure / outage").click()
    page.locator("label.sev-card-sev1").click()
    page.get_by_role("button", name="Declare and open the war room").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Payment page down, angry customers on X")
    incident = Incident.objects.get()
    assert page.url.endswith(f"/incidents/{incident.code}/")
    expect(page.locator("#incident-header .sev")).to_have_text("SEV1")

    # The dashboard lists it.
    page.get_by_role("link", name="Dashboard").click()
    row = page.locator(".incident-row", has_text="Payment page down")
    expect(row).to_contain_text(incident.reference)
    expect(row).to_contain_text("Detected")
    row.get_by_role("link").click()
    page.wait_for_url(f"**/incidents/{incident.code}/")  # the marker must go on the room, not the dashboard
    expect(page.locator("#incident-header .status").first).to_have_text("Detected")

    # Status changes happen in place: a marker on window survives only if the page is not reloaded.
    page.evaluate("window.__noReload = true")
    page.get_by_role("button", name="Move to assessing").click()
    expect(page.locator("#incident-header .status").first).to_have_text("Assessing")
    settled(page)
    page.get_by_role("button", name="Move to responding").click()
    expect(page.locator("#incident-header .status").first).to_have_text("Responding")
    expect(page.locator("#timeline-entries")).to_contain_text("Status: Assessing → Responding")
    settled(page)
    page.locator("#severity-select").select_option("sev2")
    expect(page.locator("#incident-header .sev")).to_have_text("SEV2")
    assert page.evaluate("window.__noReload") is True
    incident.refresh_from_db()
    assert (incident.status, incident.severity) == (Status.RESPONDING, "sev2")

    # Log out through the user menu.
    page.locator("details.usermenu summary").click()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to the war room")).to_be_visible()
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))

    assert csp_violations(page) == []
    assert problems == []


def test_invalid_declare_keeps_input_and_shows_inline_errors(page: Page, live_server, manager):
    problems = watch(page)
    log_in(page, live_server.url, manager.email)
    page.goto(f"{live_server.url}/incidents/declare/")
    page.get_by_label("Title").fill("Rumour about store closures")
    page.get_by_role("button", name="Declare and open the war room").click()
    expect(page.locator(".form-error-summary")).to_be_visible()
    expect(page.get_by_label("Title")).to_have_value("Rumour about store closures")
    expect(page.locator(".field-invalid legend", has_text="Scenario")).to_be_visible()
    assert Incident.objects.count() == 0
    assert csp_violations(page) == []
    assert problems == []


def test_a_refused_action_is_shown_not_swallowed(page: Page, live_server, manager, member):
    from incidents import services
    from incidents.models import RoleAssignment
    from tests.factories import IncidentFactory

    incident = IncidentFactory.create(declared_by=manager, title="Boots splitting")
    log_in(page, live_server.url, manager.email)
    page.goto(f"{live_server.url}/incidents/{incident.code}/")
    # Meanwhile command is handed to someone else (from another browser): the next click gets a 403.
    command = RoleAssignment.objects.get(incident=incident, is_command=True)
    services.team_handover(incident=incident, actor=manager, assignment=command, to_user=member)
    page.get_by_role("button", name="Move to assessing").click()
    expect(page.locator("#htmx-error")).to_be_visible()
    expect(page.locator("#htmx-error")).to_contain_text("not allowed")
    incident.refresh_from_db()
    assert incident.status == Status.DETECTED


def test_dashboard_is_usable_on_a_phone(browser, live_server, manager):
    from tests.factories import IncidentFactory

    IncidentFactory.create(declared_by=manager, title="Influencer video criticised")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    log_in(page, live_server.url, manager.email)
    expect(page.locator("#open-incidents").get_by_text("Influencer video criticised")).to_be_visible()
    # Nothing wider than the screen: no sideways scrolling at 2 a.m.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()
