"""A spike alert reaches open pages through their push streams, in real Chromium against uvicorn: a crisis
manager has her dashboard open, a colleague the monitoring page; a listening tool's signed webhook delivery
crosses the spike threshold; the alert shows on both without a reload (and without either page polling:
the pages have no polling timer of their own, and live.js polls only when its stream is down)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Browser, expect

from incidents.models import OrgRole
from tests.browser import csp_violations, log_in, watch
from tests.factories import UserFactory
from tests.factories_listening import quiet_brand
from tests.test_browser_listening import Worker, deliver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
LIVE = 15_000  # ms


def test_a_spike_alert_appears_on_an_open_dashboard_and_monitoring_page_without_reload(
    browser: Browser, asgi_server
):
    maja = UserFactory.create(display_name="Maja Kowalska", org_role=OrgRole.CRISIS_MANAGER)
    erik = UserFactory.create(display_name="Erik Lindqvist", org_role=OrgRole.CRISIS_MANAGER)
    _brand, hook = quiet_brand(maja)  # an ordinary brand: a few mentions an hour for the last days
    base = asgi_server.url

    maja_ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    dashboard = maja_ctx.new_page()
    problems = watch(dashboard)
    log_in(dashboard, base, maja.email)
    expect(dashboard.locator("#dash-notifications")).to_contain_text("No new notifications.")

    erik_ctx = browser.new_context(viewport={"width": 390, "height": 844})  # on a phone
    monitoring = erik_ctx.new_page()
    erik_problems = watch(monitoring)
    log_in(monitoring, base, erik.email)
    monitoring.goto(f"{base}{reverse('listening:monitoring')}")
    expect(monitoring.locator("#monitoring-body")).to_have_attribute("data-live", "monitoring")

    for page in (dashboard, monitoring):
        # Both pages hold their stream, and a reload would lose this mark.
        page.wait_for_function("() => window.warroomLive && window.warroomLive.connected()", timeout=LIVE)
        page.evaluate("() => { window.__notReloaded = true; }")

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
        alert = dashboard.locator("#dash-notifications")
        expect(alert).to_contain_text("Spike on “Northwind brand”: 60 mentions", timeout=LIVE)
        expect(dashboard.locator("#bell .bell-count")).to_have_text("1", timeout=LIVE)
        expect(monitoring.locator(".ls-alert-list")).to_contain_text("Northwind brand", timeout=LIVE)

    for page in (dashboard, monitoring):
        assert page.evaluate("() => window.__notReloaded === true")
        assert page.locator("#live-paused").count() == 0  # heard through the stream, not the fallback
    # The alert opens from the dashboard.
    dashboard.locator("#dash-notifications a", has_text="Spike on").first.click()
    expect(dashboard.locator("h1")).to_contain_text("Volume spike: Northwind brand")

    assert csp_violations(dashboard) == []
    assert csp_violations(monitoring) == []
    assert problems == []
    assert erik_problems == []
    for context in (maja_ctx, erik_ctx):
        context.close()
