"""The room on a phone (390×844, touch), with the commander at a desk in the same room: Legal approves a
statement and posts a timeline entry, every tap counted; the Timeline tab shows a dot when the commander
posts while Legal looks at Statements."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from incidents.models import Approval, TimelineEntry
from incidents.services.deadlines import ensure_policies
from tests.browser import csp_violations, log_in, settled, watch
from tests.factories_statements import make_cast, new_statement, seeded, submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

__all__ = ["seeded"]  # the fixture, imported by name


class Taps:
    """Taps on a touch screen, counted (typing is the keyboard's, not a tap)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, target: Locator) -> None:
        target.tap()
        self.count += 1


def open_room(page: Page, base: str, email: str, room: str) -> None:
    log_in(page, base, email)
    page.goto(f"{base}{room}")
    expect(page.locator("#live-status")).to_have_text("Live", timeout=10_000)
    settled(page)


def test_approve_and_post_from_a_phone_in_a_few_taps_with_a_live_dot_on_the_hidden_tab(
    browser: Browser, asgi_server, seeded
):
    ensure_policies()
    cast = make_cast()
    statement = submit(cast, new_statement(cast))  # Legal's step is first
    room = f"/incidents/{cast.incident.code}/"
    base = asgi_server.url

    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    ).new_page()
    desk = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    problems = watch(phone) + watch(desk)
    open_room(phone, base, cast.legal.email, room)
    open_room(desk, base, cast.commander.email, room)

    # The phone shows tabs, Timeline first; the other panels are out of the way, each one tap away.
    tabs = phone.get_by_role("tablist", name="Room panels")
    expect(tabs).to_be_visible()
    statements_tab = tabs.get_by_role("tab", name="Statements")
    timeline_tab = tabs.get_by_role("tab", name="Timeline")
    expect(timeline_tab).to_have_attribute("aria-selected", "true")
    expect(phone.locator("#statements-panel")).to_be_hidden()
    for tab in tabs.get_by_role("tab").all():
        box = tab.bounding_box()
        assert box is not None
        assert box["height"] >= 44, box
        assert box["width"] >= 44, box
    # The desk sees every panel and no tabs.
    expect(desk.locator("[data-room-tabs]")).to_be_hidden()
    expect(desk.locator("#statements-panel")).to_be_visible()

    # Approve: the Statements tab, then the approval right on its card.
    approve_taps = Taps()
    approve_taps(statements_tab)
    expect(statements_tab).to_have_attribute("aria-selected", "true")
    expect(phone.locator("#statements-panel")).to_be_visible()
    expect(phone.locator("#timeline")).to_be_hidden()
    approve_button = phone.locator("#statements-panel").get_by_role("button", name="Approve v1 as Legal")
    box = approve_button.bounding_box()
    assert box is not None
    assert box["height"] >= 44, box
    approve_taps(approve_button)
    expect(
        phone.locator("#statements-panel").get_by_role("button", name="Approve v1 as Legal")
    ).to_have_count(0)
    assert Approval.objects.filter(version__statement=statement, approver=cast.legal).count() == 1
    assert approve_taps.count <= 3
    # The panel swap keeps the tabs' roles on the new panel.
    expect(phone.locator("#statements-panel")).to_have_attribute("role", "tabpanel")
    expect(statements_tab).to_have_attribute("aria-selected", "true")

    # The approval is itself a timeline entry, which arrived while the timeline was hidden: a dot on its tab.
    dot = timeline_tab.locator("[data-tab-dot]")
    expect(dot).to_be_visible(timeout=20_000)
    timeline_tab.tap()
    expect(dot).to_be_hidden()
    statements_tab.tap()

    # The commander posts while Legal looks at Statements: the Timeline tab gets its dot, and a count.
    expect(dot).to_be_hidden()
    desk.locator("#composer textarea").fill("Regulator called; wants the holding statement by 17:00")
    desk.get_by_role("button", name="Add to timeline").click()
    expect(dot).to_be_visible(timeout=20_000)
    expect(timeline_tab).to_contain_text("new activity")
    expect(timeline_tab.locator("[data-tab-count]")).not_to_have_text("")

    # Post: the Timeline tab (which clears its dot), the text field, typing, the button.
    post_taps = Taps()
    post_taps(timeline_tab)
    expect(dot).to_be_hidden()
    expect(phone.locator("#timeline-entries")).to_contain_text("Regulator called")
    post_taps(phone.locator("#composer textarea"))
    phone.keyboard.type("Legal approved v1 from the train")
    post_taps(phone.get_by_role("button", name="Add to timeline"))
    expect(desk.locator("#timeline-entries")).to_contain_text(
        "Legal approved v1 from the train", timeout=20_000
    )
    assert post_taps.count <= 3
    assert (
        TimelineEntry.objects.filter(incident=cast.incident, body="Legal approved v1 from the train").count()
        == 1
    )

    # Arrow keys move between tabs (the ARIA tabs pattern).
    timeline_tab.focus()
    phone.keyboard.press("ArrowRight")
    expect(statements_tab).to_be_focused()
    expect(statements_tab).to_have_attribute("aria-selected", "true")
    phone.keyboard.press("End")
    expect(tabs.get_by_role("tab", name="Deadlines")).to_be_focused()
    expect(phone.locator("#deadlines-panel")).to_be_visible()

    # A skip link on a phone opens its panel's tab; at the desk it is visible when focused and jumps there.
    skip = phone.get_by_role("link", name="Skip to team")
    skip.focus()
    expect(skip).to_be_visible()
    phone.keyboard.press("Enter")
    expect(tabs.get_by_role("tab", name="Team")).to_have_attribute("aria-selected", "true")
    expect(phone.locator("#team-panel")).to_be_visible()
    desk_skip = desk.get_by_role("link", name="Skip to statements")
    expect(desk_skip).not_to_be_in_viewport()
    desk_skip.focus()
    expect(desk_skip).to_be_in_viewport()
    desk.keyboard.press("Enter")
    desk.wait_for_url(f"{base}{room}#statements-panel")
    expect(desk.locator("#statements-panel")).to_be_in_viewport()

    assert problems == []
    assert csp_violations(phone) == []
    assert csp_violations(desk) == []
