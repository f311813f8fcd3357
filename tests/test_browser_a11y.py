"""Accessibility in real Chromium: axe-core on the main pages at a desktop and a phone width, in English and
Polish — no serious or critical violation — and nothing in the room wider than its panel on a phone.

axe comes from `static/vendor/axe.min.js` (the npm package axe-core, vendored: no network at test time). It
is loaded as a script from our own origin (`add_script_tag(url=...)`), so the pages' strict CSP holds while it
runs and the CSP listener stays empty. `add_script_tag(path=...)` would not do: Playwright inserts the file as
an inline script, which `script-src 'self'` refuses (checked); `page.evaluate(source)` would work too."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Page, ViewportSize, expect

from incidents.models import User
from incidents.services.deadlines import ensure_policies
from tests.browser import csp_violations, log_in, settled, watch
from tests.factories_reviews import build_past_incident
from tests.factories_statements import make_cast, new_statement, seeded, submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parent.parent / "static" / "vendor" / "axe.min.js"
SIZES: dict[str, ViewportSize] = {
    "desktop": {"width": 1366, "height": 900},
    "phone": {"width": 390, "height": 844},
}
# The room's panels on a phone: none may be wider than its box (text overflowing it).
PANELS = [
    "#incident-header",
    "#summary-region",
    "#timeline",
    "#statements-panel",
    "#team-panel",
    "#deadlines-panel",
]

__all__ = ["seeded"]  # the fixture, imported by name


def axe(page: Page) -> str:
    """Run axe on the page; fail on serious/critical violations, naming minor/moderate counts too."""
    settled(page)
    if not page.evaluate("!!window.axe"):
        page.add_script_tag(url="/static/vendor/axe.min.js")
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact,
                nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
        }"""
    )
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    minor = sum(1 for v in result if v["impact"] == "minor")
    moderate = sum(1 for v in result if v["impact"] == "moderate")
    summary = f"{page.url}: {bad} (also {moderate} moderate, {minor} minor: {[v['id'] for v in result]})"
    assert not bad, summary
    return summary


def overflowing(page: Page) -> list[str]:
    """Panels whose content is wider than their box (scrollWidth > clientWidth), and the page itself."""
    return list(
        page.evaluate(
            """(selectors) => {
                const out = [];
                for (const s of selectors) {
                    const el = document.querySelector(s);
                    if (el && el.offsetParent !== null && el.scrollWidth > el.clientWidth)
                        out.push(s + ' ' + el.scrollWidth + '>' + el.clientWidth);
                }
                const d = document.documentElement;
                if (d.scrollWidth > d.clientWidth) {
                    // Name the widest culprits: elements reaching past the right edge whose children do not.
                    const wide = Array.from(document.body.querySelectorAll('*')).filter(e =>
                        e.getBoundingClientRect().right > d.clientWidth + 1 &&
                        !Array.from(e.children).some(c => c.getBoundingClientRect().right > d.clientWidth + 1));
                    out.push('page ' + d.scrollWidth + '>' + d.clientWidth + ': ' +
                        wide.slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + (e.textContent || '').trim().slice(0, 40)).join(' | '));
                }
                return out;
            }""",
            PANELS,
        )
    )


@pytest.mark.parametrize("language", ["en", "pl"])
def test_main_pages_have_no_serious_axe_violations_at_desktop_and_phone_widths(
    browser: Browser, asgi_server, seeded, language
):
    assert AXE.exists()
    assert AXE.stat().st_size > 100_000
    ensure_policies()
    cast = make_cast()
    statement = submit(cast, new_statement(cast))  # Legal's turn: their approvals page has it
    past = build_past_incident()
    User.objects.filter(pk=cast.legal.pk).update(language=language)
    base = asgi_server.url
    incident = cast.incident
    pages = [
        reverse("incidents:dashboard"),
        f"/incidents/{incident.code}/",
        reverse("incidents:statement", args=[incident.code, statement.code]),
        reverse("incidents:my-approvals"),
        "/incidents/past/",
        reverse("reviews:review", args=[past.incident.code]),
        reverse("playbooks:list"),
        reverse("listening:monitoring"),
    ]
    for name, size in SIZES.items():
        locale = "pl-PL" if language == "pl" else "en-GB"
        # Before login the browser's language decides.
        anonymous = browser.new_context(viewport=size, locale=locale)
        login = anonymous.new_page()
        problems = watch(login)
        login.goto(f"{base}/accounts/login/")
        expect(login.locator("html")).to_have_attribute("lang", language)
        axe(login)
        assert problems == []
        assert csp_violations(login) == []
        anonymous.close()

        context = browser.new_context(viewport=size, is_mobile=name == "phone", has_touch=name == "phone")
        page = context.new_page()
        problems = watch(page)
        log_in(page, base, cast.legal.email)
        for path in pages:
            page.goto(f"{base}{path}")
            expect(page.locator("html")).to_have_attribute("lang", language)
            axe(page)
            if path == f"/incidents/{incident.code}/" and name == "phone":
                expect(page.locator("[data-room-tabs]")).to_be_visible()
                # Every panel, shown in turn through its tab, fits the phone.
                for tab in page.get_by_role("tab").all():
                    tab.click()
                    expect(tab).to_have_attribute("aria-selected", "true")
                    settled(page)
                    assert overflowing(page) == [], (tab.inner_text(), overflowing(page))
                    axe(page)
        assert problems == [], problems
        assert csp_violations(page) == []
        context.close()


def test_the_not_found_and_forbidden_pages_are_accessible_and_in_the_persons_language(
    browser: Browser, asgi_server, seeded
):
    cast = make_cast()
    User.objects.filter(pk=cast.legal.pk).update(language="pl")
    base = asgi_server.url
    context = browser.new_context(viewport=SIZES["phone"], is_mobile=True, has_touch=True)
    page = context.new_page()
    log_in(page, base, cast.legal.email)
    missing = page.goto(f"{base}/incidents/00000000-0000-4000-8000-000000000000/")
    assert missing is not None
    assert missing.status == 404
    expect(page.get_by_role("heading", name="Nic tu nie ma")).to_be_visible()
    expect(page.get_by_text("Nie ma takiego incydentu.")).to_be_visible()
    axe(page)
    forbidden = page.goto(f"{base}{reverse('playbooks:new')}")  # Legal edits no playbooks
    assert forbidden is not None
    assert forbidden.status == 403
    expect(page.get_by_role("heading", name="Nie możesz tego tu zrobić")).to_be_visible()
    axe(page)
    page.get_by_role("link", name="Wróć do pulpitu").click()
    page.wait_for_url(f"{base}/")  # the way back works
    assert csp_violations(page) == []
    context.close()
