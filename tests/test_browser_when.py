"""A typed time in real Chromium late in the evening (static/js/when.js with the server's own suggestion).

The drafter's zone is chosen so that it is 22:xx there now, whatever the hour the test runs at: the SEV2
cadence (2 h) then lands tomorrow. The page suggests that time with "Yes, tomorrow" ticked and the question
shown; the draft saved as it is promises tomorrow's time. A tick is for one time only: typing another asks
again, and a time still to come today hides the question."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, expect

from incidents.models import Statement
from tests.browser import csp_violations, log_in, watch
from tests.factories import IncidentFactory, UserFactory, give_role
from tests.factories_statements import seeded as seeded  # the fixture the test below uses

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def zone_at_ten_in_the_evening() -> str:
    """An hour-offset zone (no DST) where the clock says 22:xx now: ≥ 1 h before midnight there."""
    offset = (22 - datetime.now(UTC).hour) % 24
    offset = offset - 24 if offset > 14 else offset  # Etc zones run from UTC-12 to UTC+14
    return f"Etc/GMT{-offset:+d}"  # POSIX signs: Etc/GMT-2 is two hours ahead of UTC


def test_late_in_the_evening_the_next_update_is_proposed_for_tomorrow_and_a_new_time_asks_again(
    browser: Browser, asgi_server, seeded
) -> None:
    zone = zone_at_ten_in_the_evening()
    sofia = UserFactory.create(display_name="Sofia Petrova", time_zone=zone)
    incident = IncidentFactory.create(title="Checkout charged twice", scenario="outage", severity="sev2")
    give_role(incident, sofia, "social")
    page = browser.new_context().new_page()
    problems = watch(page)
    log_in(page, asgi_server.url, sofia.email)
    page.goto(f"{asgi_server.url}/incidents/{incident.code}/statements/new/")

    when = page.get_by_label("When the next update comes")
    confirm = page.locator('[data-when-confirm="next-update"]')
    box = confirm.get_by_role("checkbox")
    hint = page.locator('[data-when-hint="next-update"]')
    suggested = when.input_value()
    assert suggested.startswith(("00:", "01:", "02:00")), suggested
    expect(confirm).to_be_visible()
    expect(box).to_be_checked()
    expect(hint).to_contain_text(re.compile(rf"{suggested} typed at 2[23]:"))
    expect(hint).to_contain_text("→ tomorrow")

    # Another time that has passed today: asked again, not ticked for it.
    when.fill("00:00")
    expect(confirm).to_be_visible()
    expect(box).not_to_be_checked()
    box.check()
    when.fill("21:00")
    expect(hint).to_contain_text(re.compile(r"21:00 typed at 2[23]:"))
    expect(box).not_to_be_checked()
    # A time still to come today: nothing to ask.
    when.fill("23:59")
    expect(confirm).to_be_hidden()
    expect(hint).to_contain_text("→ today, 23:59")

    # The page as it comes, saved with nothing typed but the public words: tomorrow's time is promised.
    page.reload()
    expect(box).to_be_checked()
    proposed = when.input_value()
    page.get_by_label("What happened, in a few words").fill("a problem with checkout")
    page.get_by_role("button", name="Save as a draft only").click()
    expect(page.locator("#statement-live .st-status")).to_have_text("Draft")
    version = Statement.objects.get(incident=incident).current_version
    assert version is not None
    assert version.next_update_at is not None
    promised = version.next_update_at.astimezone(ZoneInfo(zone))
    today = datetime.now(ZoneInfo(zone)).date()
    assert promised.date() == today + timedelta(days=1)
    assert f"{promised:%H:%M}" == proposed
    assert csp_violations(page) == []
    assert problems == []
