"""The second factor in real Chromium: sign-in with a code, and the step-up prompt appearing in place inside
the approve form when the last check is older than five minutes — a wrong code changes nothing, the right
one approves in the same click, with no CSP violation."""

from __future__ import annotations

import time

import pytest
from django.contrib.sessions.backends.db import SessionStore
from playwright.sync_api import Browser, expect

from incidents.accounts import otp
from incidents.models import Approval
from tests.browser import csp_violations, log_in, settled, watch
from tests.factories_statements import cv, fresh, make_cast, new_statement, submit
from tests.factories_statements import seeded as seeded  # the fixture the test below uses
from tests.helpers import current_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def age_browser_session(context, seconds: float) -> None:
    """Pretend this browser's last second-factor check was `seconds` ago."""
    key = next(c["value"] for c in context.cookies() if c["name"] == "sessionid")
    store = SessionStore(session_key=key)
    store[otp.VERIFIED_AT] = time.time() - seconds
    store.save()


@pytest.mark.usefixtures("seeded")
def test_approving_after_five_minutes_asks_for_a_code_in_place(browser: Browser, asgi_server):
    cast = make_cast()
    statement = submit(cast, new_statement(cast))
    version = cv(fresh(statement))
    base = asgi_server.url
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    page = context.new_page()
    problems = watch(page)
    log_in(page, base, cast.legal.email)
    page.goto(f"{base}/approvals/")
    age_browser_session(context, 6 * 60)

    approve = page.get_by_role("button", name=f"Approve v{version.number} as Legal")
    approve.click()
    code_field = page.get_by_label("Confirm with a code from your authenticator app")
    expect(code_field).to_be_visible()
    expect(code_field).to_be_focused()
    assert Approval.objects.filter(version=version).count() == 0

    code_field.fill("000000" if current_code(cast.legal) != "000000" else "111111")
    code_field.press("Enter")
    expect(page.get_by_text("That code did not work")).to_be_visible()
    expect(page.locator("#step-up-prompt")).to_have_count(1)
    assert Approval.objects.filter(version=version).count() == 0

    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.filter(user=cast.legal).update(throttling_failure_count=0)  # they waited a moment
    page.get_by_label("Confirm with a code from your authenticator app").fill(current_code(cast.legal))
    page.get_by_role("button", name="Confirm").click()
    settled(page)
    expect(page.locator("#step-up-prompt")).to_have_count(0)
    assert Approval.objects.filter(version=version, approver=cast.legal).count() == 1
    assert problems == []
    assert csp_violations(page) == []


def test_a_new_member_enrols_in_the_browser_and_keeps_the_recovery_codes(browser: Browser, asgi_server):
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.factories import PASSWORD, UserFactory

    person = UserFactory.create(display_name="Nina New", email="nina@example.com")
    base = asgi_server.url
    page = browser.new_context().new_page()
    problems = watch(page)
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Set up your second factor")).to_be_visible()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)  # nothing to reach before the code

    device = TOTPDevice.objects.get(user=person, confirmed=False)
    code = f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"
    page.get_by_role("textbox", name="Code").fill(code)
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    expect(page.get_by_role("list", name="Recovery codes").get_by_role("listitem")).to_have_count(10)
    page.get_by_role("link", name="I have saved them — continue").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert problems == []
    assert csp_violations(page) == []


def test_a_flooding_poster_sees_429_in_the_composer_with_the_text_kept_and_others_post_on(
    browser: Browser, asgi_server, manager, member
):
    from tests.factories import IncidentFactory, give_role
    from warroom.redis import channel_name, get_redis

    incident = IncidentFactory.create(declared_by=manager, title="Influencer says our jackets leak")
    give_role(incident, member, "scribe")
    pages = {}
    for person in (manager, member):
        page = browser.new_context().new_page()
        problems = watch(page)
        log_in(page, asgi_server.url, person.email)
        page.goto(f"{asgi_server.url}{incident.room_url}")
        pages[person.pk] = (page, problems)
    alice, bob = pages[manager.pk][0], pages[member.pk][0]
    # Alice has just posted her whole burst: her bucket is empty (the server reads it from the same Redis).
    get_redis().hset(
        channel_name(f"bucket:write:{manager.pk}"), mapping={"tokens": "0", "at": str(time.time())}
    )

    alice.locator("#composer textarea").fill("Flood number 31: still posting")
    alice.get_by_role("button", name="Add to timeline").click()
    expect(alice.locator("#composer")).to_contain_text("faster than the war room accepts")
    expect(alice.locator("#composer textarea")).to_have_value("Flood number 31: still posting")
    expect(alice.locator("#htmx-error")).to_be_hidden()  # said in the composer, not in the banner

    bob.locator("#composer textarea").fill("Support queue at 14")
    bob.get_by_role("button", name="Add to timeline").click()
    expect(alice.locator("#timeline-entries")).to_contain_text("Support queue at 14")
    expect(alice.locator("#timeline-entries")).not_to_contain_text("Flood number 31")
    for page, problems in pages.values():
        assert problems == []
        assert csp_violations(page) == []


def test_a_tab_from_before_signing_in_again_gets_a_visible_403_and_keeps_the_draft(
    browser: Browser, asgi_server, manager
):
    from incidents.models import TimelineEntry
    from tests.factories import IncidentFactory

    incident = IncidentFactory.create(declared_by=manager, title="Influencer says our jackets leak")
    context = browser.new_context()
    old_tab = context.new_page()
    problems = watch(old_tab)
    log_in(old_tab, asgi_server.url, manager.email)
    old_tab.goto(f"{asgi_server.url}{incident.room_url}")
    old_tab.locator("#composer textarea").fill("Draft typed before the other tab signed in again")

    other_tab = context.new_page()
    other_tab.goto(f"{asgi_server.url}/")
    other_tab.locator("details.usermenu summary").click()
    other_tab.get_by_role("button", name="Log out").click()
    log_in(other_tab, asgi_server.url, manager.email)  # a new session and a new CSRF token

    before = TimelineEntry.objects.filter(incident=incident).count()
    old_tab.get_by_role("button", name="Add to timeline").click()
    expect(old_tab.locator("#htmx-error")).to_be_visible()
    expect(old_tab.locator("#htmx-error")).to_contain_text("your session changed in another tab")
    expect(old_tab.locator("#composer textarea")).to_have_value(
        "Draft typed before the other tab signed in again"
    )
    assert TimelineEntry.objects.filter(incident=incident).count() == before
    assert problems == []
    assert csp_violations(old_tab) == []
