"""Languages in a real browser: the scripts' strings follow the person's language, the switcher works by keyboard."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from incidents.models import OrgRole
from tests.browser import csp_violations, log_in, settled, watch
from tests.factories import UserFactory
from tests.factories_deadlines import declare, quiet_broker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_polish_room_counts_down_in_polish_and_the_switcher_turns_it_swedish(
    page: Page, live_server, monkeypatch
):
    quiet_broker(monkeypatch)
    person = UserFactory.create(email="anna@example.com", language="pl", org_role=OrgRole.CRISIS_MANAGER)
    incident = declare(person)
    problems = watch(page)
    log_in(page, live_server.url, person.email)  # the login page follows the browser: English
    expect(page.locator("html")).to_have_attribute("lang", "pl")
    expect(page.get_by_role("heading", level=1)).to_have_text("Otwarte incydenty")

    page.goto(f"{live_server.url}{incident.room_url}")
    settled(page)
    # deadlines.js rewrites the countdown every second, with words from the Polish catalogue.
    expect(page.locator("[data-countdown]").first).to_have_text(re.compile(r"^termin za \d"))

    # The switcher, by keyboard only: open the menu, choose Svenska, press Change.
    page.locator("details.usermenu > summary").focus()
    page.keyboard.press("Enter")
    page.locator("#menu-language").focus()
    page.locator("#menu-language").select_option("sv")
    page.get_by_role("button", name="Zmień", exact=True).focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}{incident.room_url}")
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    expect(page.get_by_role("heading", name="Tidslinje", exact=True)).to_be_visible()
    settled(page)
    expect(page.locator("[data-countdown]").first).to_have_text(re.compile(r"^förfaller om \d"))
    person.refresh_from_db()
    assert person.language == "sv"
    assert problems == []
    assert csp_violations(page) == []
