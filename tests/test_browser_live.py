"""Live regions in real Chromium, several people at once, against uvicorn (pages + events process).

A change made in one browser reaches the others' header, dashboard, statement page, bell and "My
approvals" without a reload, through the one stream each page holds — and never replaces what someone
is typing. Every wait is on a condition (Playwright's expect); nothing sleeps.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from incidents.models import Severity
from tests.browser import csp_violations, log_in, watch
from tests.factories import IncidentFactory, UserFactory, give_role
from tests.factories_statements import make_cast, new_statement, submit
from tests.factories_statements import seeded as seeded  # the fixture the tests below use

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
LIVE = 8_000  # ms; it usually takes ~100 ms


def open_page(browser: Browser, base: str, email: str, path: str, problems: list[str]) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    problems += watch(page)
    log_in(page, base, email)
    page.goto(f"{base}{path}")
    page.evaluate("window.__noReload = true")
    return page


def stream_ready(page: Page) -> None:
    """The page's stream is open (the room says Live; other pages have fetched their bell)."""
    if page.locator("#live-status").count():
        expect(page.locator("#live-status")).to_have_text("Live", timeout=10_000)
    expect(page.locator("#bell")).to_have_attribute("data-live-version", re.compile(r"^[1-9]"))


def finish(pages: list[Page], problems: list[str]) -> None:
    for page in pages:
        assert page.evaluate("window.__noReload") is True, "the page reloaded"
        assert csp_violations(page) == []
        page.goto("about:blank")  # end the streams before the test database is flushed
    assert problems == []


def test_a_severity_change_reaches_the_other_room_and_the_dashboard_without_reload(
    browser: Browser, asgi_server, manager, member
):
    incident = IncidentFactory.create(declared_by=manager, severity=Severity.SEV3, title="Jackets leak")
    give_role(incident, member, "scribe")
    watcher = UserFactory.create(display_name="Dana Dashboard")
    problems: list[str] = []
    room = f"/incidents/{incident.code}/"
    commander = open_page(browser, asgi_server.url, manager.email, room, problems)
    colleague = open_page(browser, asgi_server.url, member.email, room, problems)
    dashboard = open_page(browser, asgi_server.url, watcher.email, "/", problems)
    for page in (commander, colleague, dashboard):
        stream_ready(page)
    expect(dashboard.locator("#open-incidents")).to_contain_text("Jackets leak")
    expect(dashboard.locator("#open-incidents")).not_to_contain_text("SEV1")

    commander.locator("#severity-select").select_option(Severity.SEV1.value)

    expect(colleague.locator("#incident-header")).to_have_class(re.compile(r"room-header-sev1"), timeout=LIVE)
    expect(colleague.locator("#incident-header")).to_contain_text("SEV1")
    expect(dashboard.locator("#open-incidents")).to_contain_text("SEV1", timeout=LIVE)
    finish([commander, colleague, dashboard], problems)


@pytest.mark.usefixtures("seeded")
def test_a_colleague_s_save_shows_on_the_open_statement_page_and_never_eats_typed_text(
    browser: Browser, asgi_server
):
    cast = make_cast()
    statement = new_statement(cast, body="We are aware of an issue with checkout.")
    problems: list[str] = []
    path = f"/incidents/{cast.incident.code}/statements/{statement.code}/"
    writer = open_page(browser, asgi_server.url, cast.drafter.email, path, problems)
    colleague = open_page(browser, asgi_server.url, cast.comms.email, path, problems)
    for page in (writer, colleague):
        stream_ready(page)

    typed = "My own careful wording, not saved yet."
    writer.locator("#statement-body").fill(typed)

    colleague.locator("#statement-body").fill("We are aware of an issue with checkout. More at 18:00.")
    colleague.get_by_role("button", name="Save as a new version").click()
    expect(colleague.locator("#statement-live .chip-version")).to_have_text("v2", timeout=LIVE)

    # The writer's page shows v2's state and says so in the editor, which keeps every typed character.
    expect(writer.locator("#statement-live .chip-version")).to_have_text("v2", timeout=LIVE)
    expect(writer.locator("#statement-live")).to_contain_text("Text — v2")
    expect(writer.locator("#editor-stale")).to_contain_text("saved v2 — reload the editor", timeout=LIVE)
    expect(writer.locator("#statement-body")).to_have_value(typed)
    expect(writer.locator("#statement-versions")).to_contain_text("v2")

    # Choosing to reload the editor brings v2's text (the writer's own is the person's to drop).
    writer.get_by_role("button", name="Reload the editor").click()
    expect(writer.locator("#statement-body")).to_have_value(re.compile("More at 18:00"), timeout=LIVE)
    finish([writer, colleague], problems)


@pytest.mark.usefixtures("seeded")
def test_the_approver_s_bell_and_queue_show_the_waiting_approval_without_reload(
    browser: Browser, asgi_server
):
    cast = make_cast()
    statement = new_statement(cast)
    problems: list[str] = []
    drafter = open_page(
        browser,
        asgi_server.url,
        cast.drafter.email,
        f"/incidents/{cast.incident.code}/statements/{statement.code}/",
        problems,
    )
    approver = open_page(browser, asgi_server.url, cast.legal.email, "/", problems)
    for page in (drafter, approver):
        stream_ready(page)
    expect(approver.locator("#approvals-queue")).to_contain_text("Nothing is waiting for your approval.")
    count = approver.locator("#bell [data-bell-count]")
    before = int(count.inner_text()) if count.count() else 0
    # The bell's count travels in its nudge (incidents.live.notified): the page shows it, fetching nothing.
    bell_fetches: list[str] = []
    approver.on("request", lambda r: bell_fetches.append(r.url) if "/notifications/bell/" in r.url else None)

    drafter.get_by_role("button", name="Submit v1 for approval").click()
    expect(drafter.locator("#statement-live")).to_contain_text("Approval", timeout=LIVE)

    expect(approver.locator("#approvals-queue")).to_contain_text("Holding statement", timeout=LIVE)
    expect(approver.locator("#approvals-queue")).to_contain_text("Your decision")
    expect(approver.locator("#bell [data-bell-count]")).to_have_text(str(before + 1), timeout=LIVE)
    expect(approver.locator("#bell")).to_have_attribute("aria-label", f"Notifications, {before + 1} unread")
    expect(approver.locator("#bell")).to_have_class(re.compile(r"\bbell-unread\b"))
    assert bell_fetches == []
    finish([drafter, approver], problems)


def test_without_its_stream_a_page_says_so_polls_its_regions_and_reconnects(
    browser: Browser, asgi_server, manager, member
):
    from incidents import services

    incident = IncidentFactory.create(declared_by=manager, severity=Severity.SEV3, title="Jackets leak")
    problems: list[str] = []
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    problems += watch(page)
    blocked = "**/events/live**"
    page.route(blocked, lambda route: route.abort())  # the stream cannot be reached (a proxy, say)
    log_in(page, asgi_server.url, member.email)
    page.evaluate("window.__noReload = true")
    expect(page.locator("#live-paused")).to_have_text("Live updates paused — retrying", timeout=20_000)
    expect(page.locator("#open-incidents")).to_contain_text("Jackets leak")

    services.incident_change_severity(
        incident=incident, actor=manager, new_severity=Severity.SEV1, expected_severity=Severity.SEV3, note=""
    )
    # The fallback polls the page's regions every 30 s.
    expect(page.locator("#open-incidents")).to_contain_text("SEV1", timeout=40_000)

    page.unroute(blocked)
    expect(page.locator("#live-paused")).to_have_count(0, timeout=40_000)
    assert page.evaluate("window.warroomLive.connected()") is True
    finish([page], problems)


@pytest.mark.usefixtures("seeded")
def test_a_decision_in_one_room_refreshes_only_that_statement_s_card_in_the_others(
    browser: Browser, asgi_server
):
    cast = make_cast()
    waiting = submit(cast, new_statement(cast))
    other = new_statement(cast, body="A draft nobody touches.")
    problems: list[str] = []
    room = f"/incidents/{cast.incident.code}/"
    legal = open_page(browser, asgi_server.url, cast.legal.email, room, problems)
    comms = open_page(browser, asgi_server.url, cast.comms.email, room, problems)
    for page in (legal, comms):
        stream_ready(page)
    card = comms.locator(f"#statement-{waiting.code}")
    expect(card).to_contain_text("Waiting for Legal")
    expect(comms.locator(f"#statement-{other.code}")).to_be_visible()
    fetched: list[str] = []
    comms.on("request", lambda r: fetched.append(r.url) if "/statements/" in r.url else None)

    legal.locator(f"#statement-{waiting.code}").get_by_role("button", name="Approve v1 as Legal").click()

    # Communications' room shows its turn on that card without a reload, by fetching that card alone.
    expect(card.locator(".approval-card")).to_contain_text("Your decision", timeout=LIVE)
    expect(card).to_have_class(re.compile(r"statement-card-mine"))
    card_url = f"{room}statements/{waiting.code}/card/"
    assert fetched
    assert all(u.endswith(card_url) for u in fetched), fetched
    expect(comms.locator("#statements-panel .region-head .count")).to_have_text("2")
    finish([legal, comms], problems)
