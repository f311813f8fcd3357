"""Passkeys in real Chromium with a virtual authenticator (Chrome DevTools' WebAuthn domain): a person adds a
named passkey on their security page, logs out, signs in with password + passkey, and confirms an approval
with it in the step-up prompt. A replayed assertion and one whose origin is not ours are refused with
nothing changed. All on `localhost` (WebAuthn refuses IP addresses as relying party), under the strict CSP."""

from __future__ import annotations

import base64
import json

import pytest
from django.contrib.sessions.models import Session
from django_otp_webauthn.models import WebAuthnCredential
from playwright.sync_api import Browser, expect

from incidents.accounts import otp
from incidents.models import Approval
from tests.browser import csp_violations, log_in, settled, watch
from tests.factories import PASSWORD
from tests.factories_statements import cv, fresh, make_cast, new_statement, submit
from tests.factories_statements import seeded as seeded  # the fixture the test below uses
from tests.test_browser_accounts import age_browser_session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COMPLETE = "**/accounts/second-factor/passkey/complete/"


def _virtual_authenticator(context, page) -> None:
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _verified_at(context) -> float | None:
    key = next(c["value"] for c in context.cookies() if c["name"] == "sessionid")
    value = Session.objects.get(session_key=key).get_decoded().get(otp.VERIFIED_AT)
    return float(value) if value else None


@pytest.mark.usefixtures("seeded")
def test_a_passkey_is_added_signs_in_and_confirms_an_approval(browser: Browser, asgi_server):
    cast = make_cast()
    statement = submit(cast, new_statement(cast))
    version = cv(fresh(statement))
    person = cast.legal
    base = asgi_server.url.replace("127.0.0.1", "localhost")
    context = browser.new_context()
    page = context.new_page()
    problems = watch(page)
    _virtual_authenticator(context, page)

    # --- add a named passkey on the security page
    log_in(page, base, person.email)
    page.goto(f"{base}/accounts/security/")
    page.get_by_label("Name for a new passkey").fill("Work laptop")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.locator(".passkey-list")).to_contain_text("Work laptop")
    expect(page.get_by_text("Passkey “Work laptop” added.")).to_be_visible()
    credential = WebAuthnCredential.objects.get(user=person)
    assert credential.name == "Work laptop"

    # --- log out; sign in again with the password, then the passkey instead of a code
    page.locator("details.usermenu summary").click()
    page.get_by_role("button", name="Log out").click()
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/accounts/second-factor/verify/**")
    sent: list[str] = []
    page.on(
        "request", lambda r: sent.append(r.post_data or "") if r.url.endswith("/passkey/complete/") else None
    )
    page.get_by_role("button", name="Use a passkey").click()
    page.wait_for_url(f"{base}/")
    signed_in_at = _verified_at(context)
    assert signed_in_at is not None
    credential.refresh_from_db()
    count = credential.sign_count

    # --- the same assertion sent again is refused (the challenge was taken back): nothing changes
    assert sent
    replay = context.request.post(
        f"{base}/accounts/second-factor/passkey/complete/",
        data=sent[-1],
        headers={"Content-Type": "application/json", "X-CSRFToken": _csrf(context), "Referer": f"{base}/"},
    )
    assert (replay.status, replay.json()["code"]) == (400, "invalid_state")  # not a CSRF refusal
    credential.refresh_from_db()
    assert credential.sign_count == count
    assert _verified_at(context) == signed_in_at

    # --- step-up: an approval after five minutes asks again; a passkey from another origin is refused
    page.goto(f"{base}/approvals/")
    age_browser_session(context, 6 * 60)
    aged = _verified_at(context)
    page.get_by_role("button", name=f"Approve v{version.number} as Legal").click()
    prompt = page.locator("#step-up-prompt")
    expect(prompt).to_be_visible()

    def wrong_origin(route):
        body = json.loads(route.request.post_data or "{}")
        client = json.loads(_unb64(body["response"]["clientDataJSON"]))
        client["origin"] = "https://warroom.example.evil"
        body["response"]["clientDataJSON"] = _b64(json.dumps(client).encode())
        route.continue_(post_data=json.dumps(body))

    page.route(COMPLETE, wrong_origin)
    with page.expect_response(COMPLETE) as refused:
        prompt.get_by_role("button", name="Use a passkey").click()
    assert refused.value.status == 422
    expect(prompt.locator("[data-passkey-status]")).to_be_visible()
    assert Approval.objects.filter(version=version).count() == 0
    assert _verified_at(context) == aged
    credential.refresh_from_db()
    assert credential.sign_count == count

    page.unroute(COMPLETE)
    prompt.get_by_role("button", name="Use a passkey").click()
    expect(page.locator("#step-up-prompt")).to_have_count(0)
    settled(page)
    assert Approval.objects.filter(version=version, approver=person).count() == 1
    assert problems == []
    assert csp_violations(page) == []


def _csrf(context) -> str:
    return str(next(c["value"] for c in context.cookies() if c["name"] == "csrftoken"))
