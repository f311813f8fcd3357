"""The shortest safe path to a holding statement, in real Chromium (issue #15).

Maja commands a SEV1 and is also its only Communications lead. She opens "New statement": the page is
already on the playbook-less outage template, shows the text as it will read and the chain with the people
per step — and that step 2 would have nobody but her. Her click on "Create v1 and submit" is refused and
nothing is written; the fix is one click ("Add a Communications lead": the room's team form with the role
chosen and the cursor in the person field), where she adds Erik by typing his name. Back on the page the
chain is whole, and one click creates v1 and submits it. Priya's notification opens exactly her decision,
focused: Enter approves.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from incidents.models import IncidentRole, Notification, OrgRole, Statement, StatementStatus
from tests.browser import csp_violations, log_in, settled, watch
from tests.factories import IncidentFactory, UserFactory, give_role
from tests.factories_statements import seeded as seeded  # the fixture the test below uses

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_page(browser: Browser, base: str, email: str, path: str, problems: list[str]) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    problems += watch(page)
    log_in(page, base, email)
    page.goto(f"{base}{path}")
    return page


@pytest.mark.usefixtures("seeded")
def test_one_click_draft_and_submit_with_a_stalled_chain_refused_and_fixed_in_one_click(
    browser: Browser, asgi_server
):
    maja = UserFactory.create(display_name="Maja Kowalska", org_role=OrgRole.CRISIS_MANAGER)
    priya = UserFactory.create(display_name="Priya Raman")
    UserFactory.create(display_name="Erik Lindqvist")
    daniel = UserFactory.create(display_name="Daniel Okafor")
    incident = IncidentFactory.create(
        declared_by=maja, title="Checkout charged customers twice", scenario="outage", severity="sev1"
    )
    give_role(incident, maja, "comms-lead")  # the commander is also the only Communications lead
    give_role(incident, priya, "legal")
    give_role(incident, daniel, "executive")
    base, room = asgi_server.url, f"/incidents/{incident.code}/"
    problems: list[str] = []
    page = open_page(browser, base, maja.email, room, problems)

    # One click to the page, already on the template that fits, with the chain and its people.
    page.locator("#statements-panel").get_by_role("link", name="New statement").click()
    expect(page.locator("h1")).to_contain_text("New statement from “Holding statement — outage (X)”")
    expect(page.get_by_label("What happened, in a few words")).to_be_focused()  # the internal title: never
    expect(page.get_by_label("What happened, in a few words")).to_have_value("")
    page.get_by_label("What happened, in a few words").fill("a problem with card payments")
    page.get_by_label("When the next update comes").fill("23:59")
    confirm = page.locator('[data-when-confirm="next-update"]')
    if confirm.is_visible():  # 23:59 has passed only in the last minute of the day; say tomorrow is meant
        confirm.get_by_role("checkbox").check()
    preview = page.locator("#statement-preview")
    expect(preview.locator("[data-preview-text]")).to_contain_text(
        "We know about a problem: a problem with card payments."
    )
    chain = preview.locator("#chain-plan")
    expect(chain).to_contain_text("Priya Raman")
    expect(chain).to_contain_text("Daniel Okafor")
    expect(chain.locator(".stall")).to_contain_text(
        "Step 2 (Communications lead) would have nobody to decide it"
    )

    # Submitting anyway is refused, and nothing is written.
    page.get_by_role("button", name="Create v1 and submit for approval").click()
    expect(page.locator(".form-error-summary")).to_contain_text("Step 2 (Communications lead)")
    assert not Statement.objects.filter(incident=incident).exists()

    # The fix, in one click: the team form with the role chosen, the cursor in the person field.
    page.locator("#chain-plan").get_by_role("link", name="Add a Communications lead").click()
    expect(page.locator("#add-role")).to_have_value(str(IncidentRole.objects.get(slug="comms-lead").pk))
    person = page.locator("#add-person")
    expect(person).to_be_focused()
    person.fill("Erik Lindqvist")  # by name: the picker and the form both know him so
    page.get_by_role("button", name="Add to team").click()
    expect(page.locator("#team-panel")).to_contain_text("Erik Lindqvist")
    settled(page)

    # Back to the page: the chain is whole; one click creates v1 and submits it.
    page.locator("#statements-panel").get_by_role("link", name="New statement").click()
    expect(page.get_by_label("What happened, in a few words")).to_have_value("")  # the refusal kept nothing
    page.get_by_label("What happened, in a few words").fill("a problem with card payments")
    page.get_by_label("When the next update comes").fill("23:59")
    if confirm.is_visible():
        confirm.get_by_role("checkbox").check()
    expect(page.locator("#chain-plan")).to_contain_text("Erik Lindqvist")
    expect(page.locator("#chain-plan .stall")).to_have_count(0)
    page.get_by_role("button", name="Create v1 and submit for approval").click()
    expect(page.locator("#statement-live .st-status")).to_have_text("In review")
    expect(page.locator(".messages")).to_contain_text("Step 1 (Legal) is waiting")
    statement = Statement.objects.get(incident=incident)
    assert statement.status == StatementStatus.IN_REVIEW
    assert statement.current_version is not None
    assert statement.current_version.next_update_at is not None

    # Priya's notification opens exactly her decision, focused: Enter approves.
    legal = open_page(browser, base, priya.email, "/notifications/", problems)
    note = Notification.objects.get(recipient=priya, key__startswith="statement-step:")
    assert "?decide=1" in note.url
    legal.locator(".notification-item").filter(has_text="Your approval is needed").get_by_role(
        "button", name="Open"
    ).click()
    approve = legal.get_by_role("button", name="Approve v1 as Legal")
    expect(approve).to_be_focused()
    legal.keyboard.press("Enter")
    expect(legal.locator("#statement-live")).to_contain_text("You approved v1 as Legal")

    for p in (page, legal):
        assert csp_violations(p) == []
        p.goto("about:blank")  # end the streams before the test database is flushed
    assert problems == []
