"""@mentions and the living summary in real Chromium, two people in one room, against uvicorn (issue #20)."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from incidents.models import Notification
from tests.browser import csp_violations, log_in, settled, watch
from tests.factories import IncidentFactory, give_role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_room(browser: Browser, base: str, email: str, incident) -> Page:
    page = browser.new_context().new_page()
    log_in(page, base, email)
    page.goto(f"{base}/incidents/{incident.code}/")
    expect(page.locator("#live-status")).to_have_text("Live", timeout=15_000)
    return page


def test_a_mention_and_a_summary_edit_reach_the_other_person_live(
    browser: Browser, asgi_server, manager, member
):
    incident = IncidentFactory.create(declared_by=manager, title="Checkout charged customers twice")
    give_role(incident, member, "legal")
    Notification.objects.update(read_at=timezone.now())  # Erik starts with a quiet bell
    maja = open_room(browser, asgi_server.url, manager.email, incident)
    erik = open_room(browser, asgi_server.url, member.email, incident)
    problems = watch(maja) + watch(erik)

    # Maja calls Erik in with the keyboard: "@Er", the picker offers him, Enter picks him.
    composer = maja.locator("#composer textarea")
    composer.click()
    composer.press_sequentially("Please check the refund wording @Er")
    option = maja.get_by_role("listbox").get_by_role("option", name=re.compile("Erik Lindqvist"))
    expect(option).to_have_attribute("aria-selected", "true")
    expect(composer).to_have_attribute("aria-expanded", "true")
    composer.press("Enter")
    expect(maja.get_by_role("listbox")).to_have_count(0)
    expect(composer).to_have_value(f"Please check the refund wording @[Erik Lindqvist]({member.pk}) ")
    composer.press_sequentially("before 15:00")
    maja.get_by_role("button", name="Add to timeline").click()

    # Erik sees his name highlighted in the new entry without reloading, and his bell rings.
    mention = erik.locator("#timeline-entries .entry mark.mention")
    expect(mention).to_have_text("@Erik Lindqvist", timeout=20_000)
    expect(erik.locator("#bell .bell-count")).to_have_text("1", timeout=20_000)
    expect(maja.locator("#timeline-entries .entry mark.mention")).to_have_count(1)

    # Maja writes the living summary; both rooms show it, Erik's without reloading.
    settled(maja)
    maja.get_by_role("link", name="Write the summary").click()
    maja.get_by_label("Current summary").fill("Double charges stopped at 14:10; refunds start tonight.")
    maja.get_by_label("What we don't know yet").fill("Whether card issuers reverse the fees.")
    maja.get_by_label("Next update").fill("16:00 on the status page")
    maja.get_by_role("button", name="Save as a new version").click()
    for page in (maja, erik):
        region = page.locator("#summary-region")
        expect(region).to_contain_text("Double charges stopped at 14:10", timeout=20_000)
        expect(region).to_contain_text("Whether card issuers reverse the fees.")
        expect(region).to_have_attribute("data-live-version", "1")
    expect(erik.locator("#timeline-entries .entry-summary")).to_have_count(1)

    # The notification says who called Erik in, and where to.
    erik.locator("#bell").click()
    expect(erik.locator(".notification-text").first).to_contain_text(
        f"Maja Kowalska mentioned you in {incident.reference}"
    )

    for page in (maja, erik):
        assert csp_violations(page) == []
        page.goto("about:blank")  # end the streams before the test database is flushed
    assert problems == []
