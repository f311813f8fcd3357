"""A crisis manager starts a ×10 drill from a playbook in real Chromium (against uvicorn, as the other room
tests) and sees its speed in the room header, then pauses and resumes it from there."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from incidents.models import Incident
from tests.browser import csp_violations, log_in, watch
from tests.factories_playbooks import make_people, make_playbook

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_start_a_x10_drill_and_see_its_speed_in_the_header(browser: Browser, asgi_server, manager):
    playbook = make_playbook(manager, make_people())
    base = asgi_server.url
    page = browser.new_context().new_page()
    problems = watch(page)
    log_in(page, base, manager.email)

    page.goto(f"{base}/playbooks/{playbook.code}/")
    page.get_by_role("link", name="Run a drill").first.click()
    expect(page.locator("#declare-form input[name=title]")).to_have_value("Outage: ")
    page.keyboard.type("training hour")
    page.get_by_label("Drill speed").select_option("10")
    page.get_by_role("button", name="Start the drill").click()

    expect(page.locator("#drill-speed")).to_contain_text("×10: 6 minutes here are an hour")
    incident = Incident.objects.get()
    assert (incident.is_drill, incident.drill_speed) == (True, 10)

    page.get_by_role("button", name="Pause the drill").click()
    expect(page.locator("#drill-clock")).to_contain_text("Paused since")
    page.get_by_role("button", name="Resume the drill").click()
    expect(page.get_by_role("button", name="Pause the drill")).to_be_visible()
    expect(page.locator("#drill-speed")).to_contain_text("×10")
    assert csp_violations(page) == []
    assert problems == []
