"""A past incident in real Chromium: find it by a phrase from its timeline, replay it, write lessons, add a
follow-up, export the PDF — with no CSP violation and no page error on the way."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from pypdf import PdfReader

from incidents.reviews.models import FollowUp, ReviewSection
from incidents.services.deadlines import ensure_policies
from tests.browser import csp_violations, log_in, settled, watch
from tests.factories_reviews import build_past_incident

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_find_replay_review_follow_up_and_export(browser: Browser, asgi_server):
    ensure_policies()
    built = build_past_incident()
    base = asgi_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    problems = watch(page)
    log_in(page, base, built.legal.email)

    # Find it by a phrase from its timeline, from the nav's "Past incidents".
    page.get_by_role("link", name="Past incidents").click()
    expect(page.get_by_role("heading", name="Past incidents")).to_be_visible()
    page.get_by_role("searchbox", name="Search").fill('"retry storm"')
    page.get_by_role("button", name="Search").click()
    settled(page)
    hit = page.locator(".search-hit").first
    expect(hit).to_contain_text(built.incident.title)
    expect(hit.locator("mark").first).to_have_text("retry")
    assert "q=%22retry+storm%22" in page.url or "q=%22retry%20storm%22" in page.url  # shareable, pushed URL

    # Replay: at the start nothing is known or said; at the end, everything.
    hit.get_by_role("link", name="Replay").click()
    slider = page.locator("#replay-slider")
    expect(page.locator("#public-count")).to_have_text("2")
    slider.focus()
    page.keyboard.press("Home")
    expect(page.locator("#known-count")).to_have_text("0")
    expect(page.locator("#public-count")).to_have_text("0")
    expect(page.locator("#public-none")).to_be_visible()
    expect(page.locator("#replay-now")).to_contain_text(
        "0 timeline entries known internally, 0 statements published"
    )
    page.keyboard.press("End")
    expect(page.locator("#public-count")).to_have_text("2")
    expect(page.get_by_text("Every duplicate will be refunded.")).to_be_visible()

    # Review: write the lessons learned.
    page.locator(".review-nav").get_by_role("link", name="Review").click()
    lessons = page.locator("#text-lessons")
    lessons.fill("Pre-approve a refund holding statement so Legal is not on the critical path.")
    page.get_by_role("button", name="Save lessons learned").click()
    expect(page.locator("#section-lessons .saved")).to_have_text("Saved")
    assert ReviewSection.objects.get(review__incident=built.incident, key="lessons").text.startswith(
        "Pre-approve"
    )

    # Add a follow-up action with an owner and a due date.
    settled(page)
    page.get_by_label("Action", exact=True).fill("Draft the refund holding template")
    page.get_by_label("Owner", exact=True).select_option(label=str(built.comms))
    page.get_by_label("Due").fill("2031-01-15T10:00")
    page.get_by_role("button", name="Add action").click()
    expect(page.locator("#follow-ups .follow-up")).to_contain_text("Draft the refund holding template")
    expect(page.locator("#follow-ups .follow-up")).to_contain_text(str(built.comms))
    assert FollowUp.objects.get().deadline is not None

    # Export the PDF (a download) and read it back.
    settled(page)
    with page.expect_download() as info:
        page.locator(".review-nav").get_by_role("link", name="PDF").click()
    download = info.value
    assert download.suggested_filename == f"{built.incident.reference}-review.pdf"
    data = Path(download.path()).read_bytes()
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert "Payment provider confirms a retry storm." in text
    assert "Pre-approve a refund holding statement" in text
    assert "Draft the refund holding template" in text

    assert csp_violations(page) == []
    assert problems == []
    context.close()
