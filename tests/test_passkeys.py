"""Passkeys without a browser: what the gate lets a password-only session reach, who may start which
ceremony, removing one behind step-up (ending the other sessions) and the relying party taken from the
request. The ceremonies themselves run in real Chromium (tests/test_browser_passkeys.py)."""

from __future__ import annotations

import os

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse
from django_otp_webauthn.models import WebAuthnCredential

from incidents.accounts.passkeys import Helper, rp_id
from tests.helpers import age_verification, current_code, sign_in

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def passkey(user, name="Work laptop"):
    return WebAuthnCredential.objects.create(
        user=user,
        name=name,
        confirmed=True,
        credential_id=os.urandom(16),
        public_key=b"\x02" * 64,
        sign_count=3,
    )


def test_a_password_only_session_may_start_a_passkey_sign_in_but_not_add_one(client, manager):
    sign_in(client, manager, verified=False)
    passkey(manager)
    begin = client.post(reverse("accounts:passkey-auth-begin"), content_type="application/json")
    assert begin.status_code == 200
    assert begin.json()["challenge"]
    assert begin.json()["rpId"] == "testserver"
    register = client.post(reverse("accounts:passkey-register-begin"), content_type="application/json")
    assert register.status_code == 302  # the gate: to the second-factor step first
    assert "otp_webauthn_register_state" not in client.session


def test_without_a_password_there_is_no_passkey_ceremony(client):
    response = client.post(reverse("accounts:passkey-auth-begin"), content_type="application/json")
    assert response.status_code == 403
    assert response.json()["code"] == "not_authenticated"


def test_adding_a_passkey_needs_a_recent_check(client, manager):
    sign_in(client, manager)
    age_verification(client, 6 * 60)
    response = client.post(reverse("accounts:passkey-register-begin"), content_type="application/json")
    assert response.status_code == 403
    assert response.json()["code"] == "step_up"
    assert "otp_webauthn_register_state" not in client.session
    age_verification(client, 60)
    fresh = client.post(reverse("accounts:passkey-register-begin"), content_type="application/json")
    assert fresh.status_code == 200
    assert fresh.json()["rp"]["id"] == "testserver"


def test_removing_a_passkey_needs_a_recent_code_and_ends_the_other_sessions(client, manager):
    key = passkey(manager)
    other = Client()
    sign_in(other, manager)
    sign_in(client, manager)
    age_verification(client, 6 * 60)
    url = reverse("accounts:passkey-remove", args=[key.pk])

    prompt = client.post(url, **HX)
    assert prompt.status_code == 403
    assert prompt["X-Step-Up"] == "1"
    assert WebAuthnCredential.objects.filter(pk=key.pk).exists()
    assert other.get(reverse("accounts:security")).status_code == 200

    done = client.post(url, {"step_up_code": current_code(manager)})
    assert done.status_code == 302
    assert not WebAuthnCredential.objects.filter(pk=key.pk).exists()
    assert other.get(reverse("accounts:security"))["Location"].startswith(reverse("login"))


def test_nobody_removes_someone_elses_passkey(client, manager, member):
    key = passkey(member)
    sign_in(client, manager)
    assert client.post(reverse("accounts:passkey-remove", args=[key.pk])).status_code == 404
    assert WebAuthnCredential.objects.filter(pk=key.pk).exists()


def test_the_security_page_lists_passkeys_and_the_step_up_prompt_offers_one(client, manager):
    passkey(manager, "Phone")
    sign_in(client, manager)
    page = client.get(reverse("accounts:security")).content.decode()
    assert "Phone" in page
    assert 'data-passkey="register"' in page
    age_verification(client, 6 * 60)
    key = WebAuthnCredential.objects.get(user=manager)
    prompt = client.post(reverse("accounts:passkey-remove", args=[key.pk]), **HX).content.decode()
    assert 'data-passkey="step-up"' in prompt


@pytest.mark.parametrize(
    ("host", "expected"), [("localhost:8123", "localhost"), ("warroom.example", "warroom.example")]
)
def test_the_relying_party_is_the_host_opened(settings, host, expected):
    settings.ALLOWED_HOSTS = ["localhost", "warroom.example"]
    settings.SITE_URL = "https://warroom.example"
    request = RequestFactory().get("/", HTTP_HOST=host)
    assert rp_id(request) == expected
    origins = Helper(request).get_allowed_origins()
    assert origins[0] == f"http://{host}"
    assert "https://warroom.example" in origins


def test_a_passkey_is_renamed_by_its_owner_only_and_never_to_nothing(client, manager, member):
    mine, theirs = passkey(manager, "Old"), passkey(member, "Theirs")
    sign_in(client, manager)
    client.post(reverse("accounts:passkey-rename", args=[mine.pk]), {"name": "  Desk key  "})
    mine.refresh_from_db()
    assert mine.name == "Desk key"
    refused = client.post(reverse("accounts:passkey-rename", args=[mine.pk]), {"name": "   "}, follow=True)
    assert "Give the passkey a name" in refused.content.decode()
    mine.refresh_from_db()
    assert mine.name == "Desk key"
    assert client.post(reverse("accounts:passkey-rename", args=[theirs.pk]), {"name": "x"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"
