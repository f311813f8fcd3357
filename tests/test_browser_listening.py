"""Listening in real Chromium against uvicorn: a listening tool delivers a storm through the signed webhook,
the spike alert reaches a crisis manager's bell on the dashboard without a reload, she declares from it, and
the new room shows its mentions panel and response queue; a colleague watching the queue sees her claim
without reloading. Not one CSP violation on the way."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Browser, expect

from incidents.listening.ingest import enrich_pending
from incidents.listening.sources.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from incidents.listening.spikes import check_watches
from incidents.models import Incident, OrgRole
from tests.browser import csp_violations, log_in, settled, watch
from tests.factories import UserFactory
from tests.factories_listening import quiet_brand

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
LIVE = 15_000  # ms


class Worker:
    """Stands in for the Celery worker every 200 ms: scoring and spike checks (their tasks have their own tests)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                enrich_pending()
                check_watches()
                time.sleep(0.2)
        finally:
            connection.close()

    def __enter__(self) -> Worker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def deliver(base: str, source, items: Sequence[Mapping[str, object]]) -> dict[str, object]:
    body = json.dumps({"mentions": items}).encode()
    stamp = str(int(time.time()))
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    conn.request(
        "POST",
        reverse("listening:hook", args=[source.code]),
        body=body,
        headers={
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(source.secret, stamp, body),
        },
    )
    response = conn.getresponse()
    answer: dict[str, object] = json.loads(response.read())
    conn.close()
    assert response.status == 200, answer
    return answer


def test_a_spike_reaches_the_bell_is_declared_and_the_room_has_mentions_and_queue(
    browser: Browser, asgi_server
):
    maja = UserFactory.create(display_name="Maja Kowalska", org_role=OrgRole.CRISIS_MANAGER)
    erik = UserFactory.create(display_name="Erik Lindqvist", org_role=OrgRole.CRISIS_MANAGER)
    _brand, hook = quiet_brand(maja)  # an ordinary brand: a few mentions an hour for the last days
    base = asgi_server.url
    maja_ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = maja_ctx.new_page()
    problems = watch(page)
    log_in(page, base, maja.email)
    expect(page.locator("#bell")).to_be_visible()
    expect(page.locator("#bell .bell-count")).to_have_count(0)

    storm = [
        {
            "id": f"b24-{n}",
            "url": f"https://x.com/user{n}/status/{1000 + n}",
            "author": f"@user{n}",
            "reach": 500 + 1000 * n,
            "text": f"@northwind charged me twice for one order, support silent #NorthwindFail ({n})",
            "published_at": (timezone.now() - timedelta(seconds=30 * n)).isoformat(),
            "sentiment": "negative" if n % 4 else "neutral",
            "language": "en",
        }
        for n in range(60)
    ]
    with Worker():
        assert deliver(base, hook, storm)["stored"] == 60
        # The dashboard's bell counts the alert without a reload.
        expect(page.locator("#bell .bell-count")).to_have_text("1", timeout=LIVE)
    page.locator("#bell").click()
    expect(page.locator("#notification-list")).to_contain_text("Spike on “Northwind brand”: 60 mentions")
    page.get_by_role("button", name="Open").first.click()
    expect(page.locator("h1")).to_contain_text("Volume spike: Northwind brand")
    expect(page.locator("#d-scenario")).to_have_value("outage")  # guessed from “charged twice”
    page.locator("#d-title").fill("Double charges at checkout")
    page.get_by_role("button", name="Declare incident").click()

    page.wait_for_url(f"{base}/incidents/**", timeout=LIVE)
    incident = Incident.objects.get(title="Double charges at checkout")
    panel = page.locator("#mentions-panel")
    expect(panel.locator(".ls-chart-svg")).to_be_visible(timeout=LIVE)
    expect(panel).to_contain_text("Mentions")
    expect(panel).to_contain_text("Needs an answer")
    expect(page.locator("#timeline-entries")).to_contain_text("Declared from a spike alert", timeout=LIVE)
    expect(page.locator("#timeline-entries .entry[data-kind=evidence]").first).to_be_visible()

    # A colleague watches the queue while Maja claims the loudest mention in it.
    erik_ctx = browser.new_context(viewport={"width": 390, "height": 844})  # on a phone
    erik_page = erik_ctx.new_page()
    erik_problems = watch(erik_page)
    log_in(erik_page, base, erik.email)
    erik_page.goto(f"{base}{reverse('listening:queue', args=[incident.code])}")
    expect(erik_page.locator("#queue-list")).to_contain_text("59 open")  # all but the one quiet, neutral post

    page.goto(f"{base}{reverse('listening:queue', args=[incident.code])}")
    loudest = page.locator(".ls-queue-item").first
    expect(loudest).to_contain_text("@user59")
    loudest.get_by_role("button", name="Claim").click()
    expect(page.locator("#queue-list .notice:not(.live-stale)")).to_contain_text("It's yours", timeout=LIVE)
    settled(page)
    page.locator(".ls-queue-item").first.get_by_label("Answer with").select_option(
        label="Refund / double charge"
    )
    expect(page.locator(".ls-queue-item").first.get_by_label("Reply", exact=True)).to_have_value(
        re.compile("^We're sorry")
    )
    page.locator(".ls-queue-item").first.get_by_label("Where it was posted (link)").fill(
        "https://x.com/northwind/status/777"
    )
    page.locator(".ls-queue-item").first.get_by_role("button", name="Record the reply").click()
    expect(page.locator("#queue-list .notice:not(.live-stale)")).to_contain_text(
        "Reply recorded", timeout=LIVE
    )
    # Erik's queue moves by itself (version polling until the push path exists).
    expect(erik_page.locator("#queue-list")).to_contain_text("1 answered", timeout=LIVE)

    assert csp_violations(page) == []
    assert csp_violations(erik_page) == []
    assert problems == []
    assert erik_problems == []
    for context in (maja_ctx, erik_ctx):
        context.close()
