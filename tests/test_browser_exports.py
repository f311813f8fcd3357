"""A large export in real Chromium: the review's PDF link offers to prepare it, the page shows the worker's
progress, then a download link, and the file downloaded is the PDF of the incident — against a real Celery
worker and its own Redis, with no CSP violation and no page error on the way."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from pypdf import PdfReader

from bench.processes import AsgiServer
from incidents.models import TimelineEntry
from incidents.reviews.models import ExportJob, ExportState
from incidents.services.deadlines import ensure_policies
from incidents.services.timeline import timeline_append
from tests.browser import csp_violations, log_in, watch
from tests.factories_reviews import build_past_incident
from tests.live_server_asgi import server_environment
from tests.test_deadlines_celery import running_stack

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_large_pdf_shows_progress_then_downloads(browser: Browser, django_db_setup, settings, monkeypatch):
    ensure_policies()
    built = build_past_incident()
    for n in range(400):  # above the default threshold of 250 PDF entries
        timeline_append(
            incident=built.incident,
            kind=TimelineEntry.Kind.NOTE,
            author=built.comms,
            body=f"Refund batch {n} sent.",
        )
    media = str(settings.MEDIA_ROOT)
    with running_stack(settings, monkeypatch, {"MEDIA_ROOT": media}) as stack:
        # A server of this test's own, sending its tasks to the stack's broker (the session's server sends
        # them to a Redis no worker reads).
        server = AsgiServer(server_environment(CELERY_BROKER_URL=stack.redis.url(3), MEDIA_ROOT=media))
        server.start()
        try:
            context = browser.new_context(
                viewport={"width": 390, "height": 844}, accept_downloads=True
            )  # a phone
            page = context.new_page()
            problems = watch(page)
            log_in(page, server.url, built.comms.email)
            page.goto(f"{server.url}/incidents/{built.incident.code}/review/")
            page.locator(".review-nav").get_by_role("link", name="PDF").click()
            expect(
                page.get_by_role("heading", name="A large export is prepared in the background")
            ).to_be_visible()
            page.get_by_role("button", name="Prepare the PDF").click()
            # The worker's progress, then the link (the fragment polls itself every second until done).
            expect(page.locator("progress#export-progress")).to_be_visible()
            download_link = page.get_by_role("link", name="Download the PDF")
            expect(download_link).to_be_visible(timeout=60_000)
            expect(page.locator("progress#export-progress")).to_have_count(0)
            job = ExportJob.objects.get()
            assert job.state == ExportState.READY
            with page.expect_download() as info:
                download_link.click()
            download = info.value
            assert download.suggested_filename == f"{built.incident.reference}-review.pdf"
            data = Path(download.path()).read_bytes()
            assert len(data) == job.size
            text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
            assert "Payment provider confirms a retry storm." in text
            assert "Refund batch 399 sent." in text
            # Coming back to the export later lists the prepared file.
            page.locator(".review-nav").get_by_role("link", name="PDF").click()
            expect(page.get_by_role("heading", name="Your prepared exports of this incident")).to_be_visible()
            assert csp_violations(page) == []
            assert problems == []
            context.close()
        finally:
            server.close()
