"""A crisis manager edits a playbook, runs a drill from it, watches the injects arrive live, and reads the
after-action summary — in real Chromium, against uvicorn (pages and the live stream).

The inject sweep is run from the test process (the same `inject_sweep()` the beat task calls every 5 s),
polled every 0.3 s, so the test does not depend on a Celery beat process; the entries still reach the
browser only through the room's live stream.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from bench.processes import wait_until
from incidents import services
from incidents.models import Incident, Statement, StatementTemplate
from incidents.playbooks import services as pb
from incidents.playbooks.models import DrillInject, PlaybookVersion
from tests.browser import csp_violations, log_in, settled, watch
from tests.factories_playbooks import make_people, make_playbook

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_edit_a_playbook_run_a_drill_see_injects_live_and_read_the_after_action_summary(
    browser: Browser, asgi_server, manager
):
    people = make_people()
    playbook = make_playbook(manager, people, executive=True)
    base = asgi_server.url
    page = browser.new_context().new_page()
    problems = watch(page)
    log_in(page, base, manager.email)

    # Edit: short inject offsets for the exercise, and one more inject added with htmx.
    page.goto(f"{base}/playbooks/")
    page.get_by_role("link", name="Checkout outage").click()
    page.get_by_role("link", name="Edit (new version)").click()
    page.locator("#id_injects-0-offset_seconds").fill("2")
    page.locator("#id_injects-1-offset_seconds").fill("4")
    page.locator("#section-injects").get_by_role("button", name="+ Add a row").click()
    expect(page.locator("#id_injects-2-offset_seconds")).to_be_focused()
    settled(page)
    page.locator("#id_injects-2-offset_seconds").fill("6")
    page.locator("#id_injects-2-kind").select_option("approver_unreachable")
    page.locator("#id_injects-2-text").fill("The executive approver is on a flight until 18:00")
    page.get_by_label("What changed").fill("Drill timings for the exercise")
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.locator(".chip-version").first).to_have_text("v2")
    v2 = PlaybookVersion.objects.get(playbook=playbook, number=2)
    assert [(x.offset_seconds, x.kind) for x in v2.injects.all()] == [
        (2, "journalist"),
        (4, "mentions"),
        (6, "approver_unreachable"),
    ]

    # Drill: one click from the playbook, the team proposed, the title completed.
    page.get_by_role("link", name="Run a drill").first.click()
    expect(page.locator("#proposed-team")).to_contain_text("Communications lead")
    expect(page.locator("#declare-form input[name=title]")).to_have_value("Outage: ")
    page.keyboard.type("payment page drill")  # the caret waits after the playbook's start
    page.get_by_role("button", name="Start the drill").click()
    expect(page.locator("#live-status")).to_have_text("Live", timeout=10_000)
    incident = Incident.objects.get()
    assert incident.is_drill
    assert incident.title == "Outage: payment page drill"
    expect(page.locator("#timeline-entries")).to_contain_text("DRILL — Declared from the playbook")
    page.evaluate("window.__noReload = true")

    # The injects arrive live, each not before its time.
    texts = ["Reporter from DN calls", "Mentions triple", "on a flight until 18:00"]

    def all_posted() -> bool:
        pb.inject_sweep()  # what beat does every few seconds, done here until every inject has come due
        return not DrillInject.objects.filter(posted_at__isnull=True).exists()

    wait_until(all_posted, 60, "the drill's injects were not all posted")
    for text in texts:
        expect(page.locator("#timeline-entries .entry-external", has_text=text)).to_contain_text(
            "DRILL INJECT"
        )
    for inject in DrillInject.objects.filter(incident=incident):
        assert inject.posted_at is not None
        assert inject.posted_at >= inject.due_at
    assert page.evaluate("window.__noReload") is True

    # A statement from the playbook's template goes through the chain and out (services: the statement UI
    # has its own browser tests); the summary then has something to measure.
    template = StatementTemplate.objects.get(name="Checkout outage: Holding (X)")
    statement = services.statement_create(
        incident=incident,
        actor=manager,
        template=template,
        fill={"incident_title": "a checkout problem", "next_update_time": "16:00 CET"},
    )
    statement = services.statement_submit(statement=statement, actor=manager, version_number=1)
    for person in (people["priya"], people["erik"], people["daniel"]):
        statement = Statement.objects.select_related("current_version").get(pk=statement.pk)
        version = statement.current_version
        assert version is not None
        services.statement_approve(
            statement=statement, actor=person, version_number=version.number, sha256=version.sha256
        )
    services.statement_publish(statement=statement, actor=manager, version_number=1, link="https://x.com/n/1")

    # The after-action summary, reached from the playbook.
    page.goto(f"{base}/playbooks/{playbook.code}/")
    page.get_by_role("link", name="After-action summary").click()
    expect(page.get_by_role("heading", name="After-action summary")).to_be_visible()
    expect(page.locator(".drill-strip")).to_contain_text("DRILL")
    expect(page.locator("#first-statement")).to_contain_text("after declaration")
    rows = page.locator("#approval-times tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("Legal")
    expect(rows.nth(0)).to_contain_text("Priya")
    expect(page.locator("#deadline-results")).to_contain_text("Pause scheduled posts")
    expect(page.locator(".pb-summary")).to_contain_text("on a flight until 18:00")

    assert csp_violations(page) == []
    assert problems == []


def test_compare_two_versions_in_the_browser(browser: Browser, asgi_server, manager):
    people = make_people()
    playbook = make_playbook(manager, people)
    content = pb.content_of(playbook.latest())
    pb.playbook_save_version(
        playbook=playbook,
        actor=manager,
        base_number=1,
        content=pb.Content(
            **{**content.__dict__, "risk_notes": "Never guess a fix time. Never blame a supplier."}
        ),
    )
    page = browser.new_context().new_page()
    problems = watch(page)
    log_in(page, asgi_server.url, manager.email)
    page.goto(f"{asgi_server.url}/playbooks/{playbook.code}/")
    page.get_by_role("link", name="Compare with v1").click()
    # The comparison is in the page as it arrives; the picker works once htmx has processed the page (its
    # deferred scripts ran). Changing it before that changed nothing — under load, the test's next step did.
    page.wait_for_load_state("load")
    expect(page.locator("#comparison")).to_contain_text("Risk notes")
    expect(page.locator("#comparison ins")).to_contain_text("Never blame a supplier.")
    page.locator("#cmp-a").select_option("2")  # htmx swaps the comparison in place
    expect(page.locator("#comparison")).to_contain_text("No differences.")
    assert csp_violations(page) == []
    assert problems == []
