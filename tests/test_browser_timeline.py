"""The live timeline in real Chromium, two people at once, against uvicorn (pages + event stream)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from incidents import services
from incidents.models import TimelineEntry
from tests.browser import csp_violations, log_in, settled, watch
from tests.factories import IncidentFactory, give_role
from tests.test_timeline import XSS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_room(browser: Browser, base: str, email: str, incident) -> Page:
    page = browser.new_context().new_page()
    log_in(page, base, email)
    page.goto(f"{base}/incidents/{incident.code}/")
    expect(page.locator("#live-status")).to_have_text("Live", timeout=10_000)
    return page


def seqs(page: Page) -> list[int]:
    return [
        int(s)
        for s in page.locator("#timeline-entries > .entry").evaluate_all("els => els.map(e => e.dataset.seq)")
    ]


def test_two_people_see_each_others_entries_live_and_nothing_is_lost_across_a_restart(
    browser: Browser, asgi_server, manager, member
):
    incident = IncidentFactory.create(declared_by=manager, title="Influencer says our jackets leak")
    give_role(incident, member, "scribe")
    alice = open_room(browser, asgi_server.url, manager.email, incident)
    bob = open_room(browser, asgi_server.url, member.email, incident)
    problems = watch(alice) + watch(bob)
    bob.evaluate("window.__noReload = true")

    # Both are shown as present.
    expect(alice.locator("#presence")).to_contain_text(member.display_name)

    # Alice posts; Bob sees it without reloading (how fast is `make bench`'s figure).
    alice.locator("#composer textarea").fill(
        "Journalist from Dagens Nyheter called, wants a comment by 15:00"
    )
    alice.locator("#composer select").select_option("external")
    alice.get_by_role("button", name="Add to timeline").click()
    expect(bob.locator("#timeline-entries")).to_contain_text("Dagens Nyheter", timeout=20_000)
    expect(alice.locator("#timeline-entries .entry", has_text="Dagens Nyheter")).to_have_count(
        1
    )  # no duplicate

    # Bob's stream is cut (server killed) while ten entries are written; when it comes back he has all of them.
    before = max(seqs(bob))
    asgi_server.kill()
    for i in range(10):
        services.timeline_post(
            incident=incident, actor=manager, kind="note", body=f"Mention spike update {i}"
        )
    asgi_server.start()
    expect(bob.locator("#timeline-entries")).to_contain_text("Mention spike update 9", timeout=15_000)
    shown = seqs(bob)
    assert len(shown) == len(set(shown)), "duplicate entries"
    assert shown == sorted(shown, reverse=True), "out of order"
    expected = list(
        TimelineEntry.objects.filter(incident=incident).order_by("-seq").values_list("seq", flat=True)
    )
    assert shown == expected
    assert [s for s in shown if s > before] == list(range(before + 10, before, -1))
    assert bob.evaluate("window.__noReload") is True

    for page in (alice, bob):
        assert csp_violations(page) == []
        page.goto("about:blank")  # end the streams before the test database is flushed
    assert problems == []


def test_hostile_entries_render_inert_in_the_browser(browser: Browser, asgi_server, manager, member):
    incident = IncidentFactory.create(declared_by=manager, title="Rumour about a product recall")
    give_role(incident, member, "legal")
    alice = open_room(browser, asgi_server.url, manager.email, incident)
    bob = open_room(browser, asgi_server.url, member.email, incident)
    problems = watch(alice) + watch(bob)
    dialogs: list[str] = []
    requests: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    for page in (alice, bob):
        page.on("dialog", on_dialog)
        page.on("request", lambda r: requests.append(r.url))

    for payload in XSS:
        settled(alice)
        alice.locator("#composer textarea").fill(payload)
        alice.get_by_role("button", name="Add to timeline").click()
        expect(alice.locator("#composer textarea")).to_have_value("")
    expect(bob.locator("#timeline-entries > .entry")).to_have_count(
        TimelineEntry.objects.filter(incident=incident).count(), timeout=5_000
    )
    bob.wait_for_timeout(500)  # give any injected hx-trigger="load" a chance to fire
    assert dialogs == []
    assert not [u for u in requests if "/incidents/declare/" in u or "evil.example" in u]
    for page in (alice, bob):
        assert (
            page.locator("#timeline-entries script, #timeline-entries img, #timeline-entries svg").count()
            == 0
        )
        assert csp_violations(page) == []
        page.goto("about:blank")
    assert problems == []
