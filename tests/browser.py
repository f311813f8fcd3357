"""Helpers for Playwright tests: log in like a person, and catch CSP violations and JS errors."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page

from tests.factories import PASSWORD

# Runs in every page before its own scripts: records CSP violations where the test can read them.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', e => {
  window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


def watch(page: Page) -> list[str]:
    """Collect page errors and CSP violations; assert the list is empty at the end of a test."""
    problems: list[str] = []
    page.add_init_script(CSP_LISTENER)
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console: {msg.text}")
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    return problems


def csp_violations(page: Page) -> list[str]:
    return list(page.evaluate("window.__cspViolations || []"))


def log_in(page: Page, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Password, then the second factor with the code the person's authenticator app shows now."""
    code = _code_for(email)  # first: it sets up the person's authenticator, so the next step is verify
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/accounts/second-factor/verify/"))
    # By name, not by label: the password names the person, so this page is already in their language.
    page.locator("form[action$='/verify/'] input[name=code]").fill(code)
    page.locator("form[action$='/verify/'] button[type=submit]").click()
    page.wait_for_url(f"{base_url}/")


def _code_for(email: str) -> str:
    """The person's authenticator code: from the test database, or — for a demo login on a stack with a
    database of its own (`make run` under test) — from the published demo key."""
    from incidents.demo_accounts import demo_code
    from incidents.models import User
    from tests.helpers import current_code

    try:
        return current_code(User.objects.get(email=email))
    except Exception:  # no such person here, or no database access in this test: the stack's demo login
        return demo_code(email)


def settled(page: Page, timeout: float = 30.0) -> None:
    """Wait until htmx has finished every request, swap and settle (new controls are wired up)."""
    # A polling loop of page.evaluate, not wait_for_function: the latter evals a string, which our CSP forbids.
    busy = "!!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    deadline = time.monotonic() + timeout
    while page.evaluate(busy):
        if time.monotonic() > deadline:
            raise AssertionError("htmx did not settle")
        time.sleep(0.02)
