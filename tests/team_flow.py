"""Issue #15's five-person flow, driven in five Chromium contexts: declare a SEV1 from a playbook → holding
statement from its template → the 3-step chain (Legal → Communications lead → Executive), each approver seeing
their turn live → publish. Shared by the test against uvicorn (tests/test_browser_team_flow.py, a playbook and
people of its own) and the one against the processes `make run` starts (tests/test_launcher_stack.py, the
launcher's demo people and playbooks, among the demo's own incidents and notifications).

Every interaction after signing in goes through `Count` (clicks, fields filled, key presses that submit, and a
second-factor prompt should one appear); the issue's budget is ≤ 12 for the whole team. Nobody reloads: every
page sets `window.__noReload` and it must survive. What the pages show is checked against the database with
plain SQL (`Records`), so the same flow runs against a stack whose database the test process does not own.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import psycopg
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser import csp_violations, log_in, watch

LIVE = 10_000  # ms; it usually takes ~100 ms
BUDGET = 12


class Count:
    """Every interaction a person makes, counted: the issue's budget is ≤ 12 for the whole team.
    `code(email)` is the code the person's authenticator shows now (for a step-up prompt)."""

    def __init__(self, code: Callable[[str], str]) -> None:
        self.steps: list[str] = []
        self.code = code

    def click(self, who: str, target: Locator) -> None:
        target.click()
        self.steps.append(f"{who}: click")

    def fill(self, who: str, target: Locator, text: str) -> None:
        target.fill(text)
        self.steps.append(f"{who}: fill")

    def type(self, who: str, page: Page, text: str) -> None:
        page.keyboard.type(text)
        self.steps.append(f"{who}: type")

    def enter(self, who: str, page: Page) -> None:
        page.keyboard.press("Enter")
        self.steps.append(f"{who}: Enter")

    def step_up_if_asked(self, who: str, page: Page, email: str, done: Locator) -> None:
        """A decision needs a second-factor check from the last 5 minutes: when the prompt appears in
        place, the code field and its button are two more interactions."""
        prompt = page.locator("#step-up-code")
        expect(done.or_(prompt).first).to_be_visible(timeout=LIVE)
        if prompt.is_visible():
            self.fill(who, prompt, self.code(email))
            self.click(who, page.locator("#step-up-prompt").get_by_role("button", name="Confirm"))


class Records:
    """What the flow checks in the database, in SQL: the test's own database or a launched stack's."""

    def __init__(self, conninfo: str | dict[str, Any]) -> None:
        self.conninfo = conninfo

    def _rows(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if isinstance(self.conninfo, dict):
            conn = psycopg.connect(**self.conninfo, autocommit=True)
        else:
            conn = psycopg.connect(self.conninfo, autocommit=True)
        with conn:
            return list(conn.execute(query, params).fetchall())

    def incident(self, title: str) -> tuple[str, str]:
        """(code, severity) of the one incident with this title."""
        rows = self._rows("SELECT code::text, severity FROM incidents_incident WHERE title = %s", (title,))
        assert len(rows) == 1, rows
        return str(rows[0][0]), str(rows[0][1])

    def unread(self, email: str) -> int:
        return int(
            self._rows(
                "SELECT count(*) FROM incidents_notification n JOIN incidents_user u ON u.id = n.recipient_id "
                "WHERE u.email = %s AND n.read_at IS NULL",
                (email,),
            )[0][0]
        )

    def asked(self, email: str, incident: str) -> int:
        """Unread "your turn" notifications of this person on this incident."""
        return int(
            self._rows(
                "SELECT count(*) FROM incidents_notification n JOIN incidents_user u ON u.id = n.recipient_id "
                "JOIN incidents_incident i ON i.id = n.incident_id "
                "WHERE u.email = %s AND i.code::text = %s AND n.key LIKE 'statement-step:%%' "
                "AND n.read_at IS NULL",
                (email, incident),
            )[0][0]
        )

    def incident_status(self, incident: str) -> str:
        rows = self._rows("SELECT status FROM incidents_incident WHERE code::text = %s", (incident,))
        return str(rows[0][0])

    def statement_status(self, incident: str) -> str:
        rows = self._rows(
            "SELECT s.status FROM incidents_statement s JOIN incidents_incident i ON i.id = s.incident_id "
            "WHERE i.code::text = %s",
            (incident,),
        )
        assert len(rows) == 1, rows
        return str(rows[0][0])


@dataclass(frozen=True)
class Person:
    name: str  # as the steps list says it
    email: str
    display_name: str
    step: str = ""  # the chain step they decide, for an approver


@dataclass(frozen=True)
class Cast:
    commander: Person  # declares and drafts, from the playbook's page
    approvers: tuple[Person, Person, Person]  # in the chain's order: Legal → Communications lead → Executive
    publisher: Person  # publishes from the "may be published" notification
    password: str
    # The code the person's authenticator shows now, for a step-up prompt (and before signing in, whatever
    # makes that time step's code usable again: a stack's demo login may have used it already).
    code: Callable[[str], str]
    before_login: Callable[[str], object]


def open_page(browser: Browser, base: str, who: Person, path: str, cast: Cast, problems: list[str]) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    cast.before_login(who.email)
    log_in(page, base, who.email, cast.password)
    return watched(page, f"{base}{path}", problems)


def watched(page: Page, url: str, problems: list[str]) -> Page:
    """`page` (a person's first, or another tab of theirs) opened at `url`, watched: page errors, CSP
    violations and the EventSources it opens; `window.__noReload` set."""
    problems += watch(page)
    page.add_init_script(EVENT_SOURCE_SPY)
    page.goto(url)
    page.evaluate("window.__noReload = true")
    return page


def stream_ready(page: Page) -> None:
    """The page's streams are open: the room's (`#live-status`) and the person's own (the bell's version)."""
    if page.locator("#live-status").count():
        expect(page.locator("#live-status")).to_have_text("Live", timeout=LIVE)
    expect(page.locator("#bell")).to_have_attribute("data-live-version", re.compile(r"^[1-9]"), timeout=LIVE)


def loaded(page: Page) -> None:
    """The page's deferred scripts ran and htmx processed it (DOMContentLoaded handlers run before "complete")."""
    deadline = time.monotonic() + LIVE / 1000
    while page.evaluate("document.readyState") != "complete":
        assert time.monotonic() < deadline, f"{page.url} did not finish loading"
        time.sleep(0.02)


def assert_same_origin_streams(page: Page) -> None:
    """Every EventSource the page opened went to the page's own origin (through the launcher's proxy there)."""
    deadline = time.monotonic() + LIVE / 1000
    while not (urls := page.evaluate("(window.__eventSources || []).slice()")):
        assert time.monotonic() < deadline, f"{page.url} opened no stream"
        time.sleep(0.05)
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
    for url in urls:
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == origin, (url, page.url)
        assert parts.path.startswith("/events/"), url


# Records the URL of every EventSource a page opens (an init script runs before the page's own and is not
# subject to its CSP); the URL is resolved as the browser does.
EVENT_SOURCE_SPY = """
window.__eventSources = [];
(() => {
  const Original = window.EventSource;
  window.EventSource = class extends Original {
    constructor(url, init) {
      super(url, init);
      window.__eventSources.push(this.url);
    }
  };
})();
"""


def five_people(
    browser: Browser, base: str, *, playbook_path: str, cast: Cast, records: Records, title: str
) -> Count:
    """The flow; returns the counted interactions (the caller asserts the budget). `title` is what the
    commander types after the playbook's title hint; it must be new to the database.

    Pages open: the commander's (the playbook, then the room, then the statement page), each approver's and the
    publisher's dashboard, the Communications lead's "My approvals" page too, and — once the incident exists —
    the Executive's room (header, team, statements panel), opened by URL, not counted."""
    problems: list[str] = []
    pages: list[Page] = []

    def keep(page: Page) -> Page:
        pages.append(page)
        return page

    maja = keep(open_page(browser, base, cast.commander, playbook_path, cast, problems))
    desks = {a.name: keep(open_page(browser, base, a, "/", cast, problems)) for a in cast.approvers}
    sofia = keep(open_page(browser, base, cast.publisher, "/", cast, problems))
    lead = cast.approvers[1]
    queue_page = keep(watched(desks[lead.name].context.new_page(), f"{base}/approvals/", problems))
    for page in (*desks.values(), sofia, queue_page):
        stream_ready(page)
        assert_same_origin_streams(page)
    count = Count(cast.code)

    # The commander: declare from the playbook — SEV1, the team staffed (the chain's roles too), the title
    # completed after the playbook's hint.
    count.click(cast.commander.name, maja.get_by_role("link", name="Declare from this playbook"))
    expect(maja.locator("#proposed-team")).to_contain_text("Legal reviewer")
    title_field = maja.locator("#declare-form input[name=title]")
    expect(title_field).to_be_focused()
    # Focused as it is parsed (autofocus), caret at the start; playbooks.js then puts the caret after the
    # playbook's start ("Outage: "). A keyboard before that would type in front of it.
    loaded(maja)
    hint = title_field.input_value()
    count.type(cast.commander.name, maja, title)
    sev1 = maja.locator("#declare-form input[name=severity][value=sev1]")
    if not sev1.is_checked():
        count.click(cast.commander.name, maja.locator("#declare-form label[for=id_severity_0]"))
        expect(sev1).to_be_checked()
    expect(maja.locator("#declare-form [data-chain-gap]")).to_have_count(0)  # every step has someone
    count.click(cast.commander.name, maja.get_by_role("button", name="Declare and open the war room"))
    expect(maja.locator("#live-status")).to_have_text("Live", timeout=LIVE)
    maja.evaluate("window.__noReload = true")
    incident, severity = records.incident(hint + title)
    assert severity == "sev1"
    assert_same_origin_streams(maja)
    room_url = maja.url
    for page in (*desks.values(), sofia):  # each person's dashboard shows the incident they are now on
        expect(page.locator("#my-incidents")).to_contain_text(title, timeout=LIVE)
    executive = cast.approvers[2]
    room = keep(watched(desks[executive.name].context.new_page(), room_url, problems))
    stream_ready(room)
    assert_same_origin_streams(room)
    expect(room.locator("#team-panel")).to_contain_text(executive.display_name)

    # The commander: the holding statement from the playbook's template, created and submitted in one step.
    count.click(
        cast.commander.name, maja.locator("#statements-panel").get_by_role("link", name="New statement")
    )
    what = maja.get_by_label("What happened, in a few words")
    expect(what).to_be_focused()
    expect(what).to_have_value("")  # never the internal title
    count.fill(cast.commander.name, what, "a problem with card payments")
    # The page suggests the next update (the SEV1 cadence from now) at any hour: late in the evening that is
    # tomorrow, said so, with "Yes, tomorrow" already ticked. Nothing to type (a CI run late in the evening
    # failed here once: the field came empty then, and filling it was a thirteenth interaction).
    expect(maja.get_by_label("When the next update comes")).not_to_have_value("")
    for approver in cast.approvers:
        expect(maja.locator("#chain-plan")).to_contain_text(approver.display_name)
    count.click(cast.commander.name, maja.get_by_role("button", name="Create v1 and submit for approval"))
    expect(maja.locator("#statement-live .st-status")).to_have_text("In review", timeout=LIVE)
    maja.evaluate("window.__noReload = true")
    assert_same_origin_streams(maja)
    expect(room.locator("#statements-panel")).to_contain_text("In review", timeout=LIVE)

    # Each approver's dashboard shows their turn live (the queue and the bell); one click approves.
    def turn(page: Page) -> Locator:
        return page.locator("#approvals-queue li.queue-item", has_text=title)

    for approver in cast.approvers:
        desk = desks[approver.name]
        mine = turn(desk)
        expect(mine).to_contain_text("Your decision", timeout=LIVE)
        assert records.asked(approver.email, incident) == 1
        unread = str(records.unread(approver.email))
        expect(desk.locator("#bell [data-bell-count]")).to_have_text(unread, timeout=LIVE)
        for other in cast.approvers:  # nobody else is asked yet
            if other != approver:
                expect(turn(desks[other.name])).to_have_count(0)
        expect(turn(queue_page)).to_have_count(1 if approver == lead else 0, timeout=LIVE)
        count.click(approver.name, mine.get_by_role("button", name=f"Approve v1 as {approver.step}"))
        decided = desk.locator("#approvals-queue").filter(
            has_not=desk.locator("li.queue-item", has_text=title)
        )
        count.step_up_if_asked(approver.name, desk, approver.email, decided)
        expect(mine).to_have_count(0, timeout=LIVE)
        # Decided on the dashboard: gone from the lead's own approvals page too. (After Legal's decision that
        # page gains it instead — the lead's turn, checked at the top of the next round; asserting 0 there
        # raced the nudge, and lost whenever Legal's answer came back slower than the lead's page refreshed.)
        if approver == lead:
            expect(turn(queue_page)).to_have_count(0, timeout=LIVE)
        approved = f"Approved by {approver.display_name}"
        expect(maja.locator("#statement-live")).to_contain_text(approved, timeout=LIVE)
    assert records.statement_status(incident) == "approved"

    # The publisher hears it may go out; the notification opens the page with the publish button focused.
    notes = sofia.locator("#dash-notifications")
    ready = notes.locator(f'a[href*="/incidents/{incident}/"]', has_text=re.compile("may be published"))
    count.click(cast.publisher.name, ready)
    expect(sofia.get_by_role("button", name="Record v1 as published")).to_be_focused()
    loaded(sofia)  # the button has focus as it is parsed; Enter before htmx wires the form up posts natively
    sofia.evaluate("window.__noReload = true")
    count.enter(cast.publisher.name, sofia)
    count.step_up_if_asked(
        cast.publisher.name, sofia, cast.publisher.email, sofia.locator("#statement-live .published")
    )
    expect(sofia.locator("#statement-live .published")).to_contain_text("Published", timeout=LIVE)

    # Everyone else sees it live: the commander's statement page, the room, the approvers' dashboards.
    expect(maja.locator("#statement-live .published")).to_contain_text("Published", timeout=LIVE)
    expect(maja.locator("#statement-live .st-status")).to_have_text("Published")
    expect(room.locator("#statements-panel")).to_contain_text("Published", timeout=LIVE)
    for desk in desks.values():
        published = desk.locator("#dash-notifications").locator(f'a[href*="/incidents/{incident}/"]')
        expect(published.filter(has_text="Published: v1")).to_have_count(1, timeout=LIVE)
    assert records.statement_status(incident) == "published"

    # Not counted, after the flow: the commander moves the incident on from the room; the Executive's room
    # header follows without a reload.
    maja.goto(room_url)
    maja.evaluate("window.__noReload = true")
    move = maja.locator("#incident-header .transition-buttons button").first
    move.click()
    status = records.incident_status(incident)
    expect(room.locator("#incident-header .control-value .status")).to_have_class(
        re.compile(rf"\bstatus-{status}\b"), timeout=LIVE
    )

    for page in pages:
        assert page.evaluate("window.__noReload") is True, f"{page.url} reloaded"
        assert csp_violations(page) == []
        assert_same_origin_streams(page)
        page.goto("about:blank")  # end the streams before the database goes away
    assert problems == []
    return count
