"""Publishing to two channels in real Chromium: Sofia (social media manager) ticks Mastodon and Bluesky on the
statement page and clicks once; a real Celery worker sends to loopback fakes of both platforms; her page and
Erik's (who just watches it, no reload) show both posts' links as soon as each platform confirms, and the
statement as published. No CSP violation.

This test starts its own uvicorn and worker (the session's uvicorn has no publishing secrets in its
environment, and a connector only publishes with its secret set).
"""

from __future__ import annotations

import signal
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from bench.fake_platforms import FakeBluesky, FakeMastodon, FakeWebhook, serving
from bench.processes import AsgiServer, Proc, wait_until
from incidents.publishing.models import Delivery, DeliveryState
from tests.browser import csp_violations, log_in, watch
from tests.factories_publishing import WEBHOOK_SECRET, connectors_for
from tests.factories_statements import fully_approved, make_cast
from tests.factories_statements import seeded as seeded
from tests.live_server_asgi import server_environment

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
LIVE = 15_000  # ms: from the click until both links are on both pages (usually well under a second)
SECRETS = {
    "WARROOM_PUBLISH_MASTODON_TOKEN": "mastodon-token",
    "WARROOM_PUBLISH_BLUESKY_PASSWORD": "app-pass-1234",
    "WARROOM_PUBLISH_WEBHOOK_SECRET": WEBHOOK_SECRET,
}


def open_page(browser: Browser, base: str, email: str, path: str, problems: list[str]) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    problems += watch(page)
    log_in(page, base, email)
    page.goto(f"{base}{path}")
    return page


@pytest.mark.usefixtures("seeded")
def test_a_publisher_publishes_to_two_channels_and_both_pages_show_both_links(browser: Browser, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    cast = make_cast()
    statement = fully_approved(
        cast, body="We are sorry: checkout charged some of you twice. Refunds are on the way."
    )
    tmp = Path(tempfile.mkdtemp(prefix="warroom-browser-publish-"))
    with ExitStack() as stack:
        mastodon = stack.enter_context(serving(FakeMastodon()))
        sky = stack.enter_context(serving(FakeBluesky()))
        hook = stack.enter_context(serving(FakeWebhook()))
        connectors_for(mastodon, sky, hook)
        env = server_environment(**SECRETS, PUBLISH_SWEEP_SECONDS="1")
        server = AsgiServer(env)
        server.start()
        stack.callback(server.close)
        worker = Proc(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "warroom",
                "worker",
                "-P",
                "solo",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "info",
            ],
            env,
            tmp,
        )
        worker.start()
        stack.callback(lambda: worker.kill(signal.SIGTERM))
        wait_until(lambda: " ready." in worker.text(), 30, "worker not ready", worker.tail)

        base = server.url
        path = f"/incidents/{cast.incident.code}/statements/{statement.code}/"
        problems: list[str] = []
        sofia = open_page(browser, base, cast.publisher.email, path, problems)
        erik = open_page(browser, base, cast.comms.email, path, problems)
        for page in (sofia, erik):
            expect(page.locator("#deliveries")).to_contain_text("Mastodon @northwind")
            page.evaluate("window.__noReload = true")

        sofia.get_by_label("Mastodon @northwind").check()
        sofia.get_by_label("Bluesky northwind.example").check()
        sofia.get_by_role("button", name="Publish to the chosen channels").click()

        for page in (sofia, erik):
            expect(page.locator("#deliveries a.delivery-link")).to_have_count(2, timeout=LIVE)
            expect(page.locator("#statement-live .st-status")).to_have_text("Published", timeout=LIVE)
        links = sorted(
            sofia.locator("#deliveries a.delivery-link").evaluate_all("els => els.map(e => e.href)")
        )
        expected = sorted(Delivery.objects.filter(statement=statement).values_list("remote_url", flat=True))
        assert links == expected
        assert set(Delivery.objects.values_list("state", flat=True)) == {DeliveryState.PUBLISHED}
        assert len(mastodon.statuses) == 1
        assert len(sky.posts()) == 1
        for page in (sofia, erik):
            assert page.evaluate("window.__noReload") is True  # live, not reloaded
            assert csp_violations(page) == []
        assert problems == []
