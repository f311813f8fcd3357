"""The second factor: which devices a person has, checking a code (single-use, also under races), marking a
session verified, recovery codes, and the enrolment QR code (inline SVG: no external request, strict CSP).

A session is verified when it carries VERIFIED_AT (set only here, after a code passed); the gate reads the
session alone, so checking it costs no query on any request.
"""

from __future__ import annotations

import io
import logging
import secrets
import time
from typing import Any

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from incidents.models import User

log = logging.getLogger("warroom.security")

VERIFIED_AT = "warroom_otp_verified_at"
RECOVERY_CODES = 10


def has_device(user: User) -> bool:
    return bool(TOTPDevice.objects.filter(user=user, confirmed=True).exists())


def has_passkey(user: User) -> bool:
    from django_otp_webauthn.models import WebAuthnCredential

    return bool(WebAuthnCredential.objects.filter(user=user, confirmed=True).exists())


def is_verified(request: HttpRequest) -> bool:
    return bool(request.session.get(VERIFIED_AT))


def verified_age(request: HttpRequest) -> float | None:
    """Seconds since this session last passed a code, or None if it never did."""
    at = request.session.get(VERIFIED_AT)
    return time.time() - float(at) if at else None


def is_fresh(request: HttpRequest) -> bool:
    age = verified_age(request)
    return age is not None and age <= settings.STEP_UP_MAX_AGE


def check_code(user: User, code: str) -> Device | None:
    """The confirmed device the code belongs to, or None. A code passes once: the device row is locked while
    it is checked, so two requests with the same TOTP code (django-otp stores the last time step used) or the
    same recovery code (deleted when used) cannot both pass. Failures count towards django-otp's throttle."""
    code = "".join(code.split()).lower()
    if not code or len(code) > 16 or not code.isalnum():
        return None
    # An app's code is 6 digits; a recovery code is 10 hex characters (which may happen to be all digits).
    kinds: list[type[Device]] = [TOTPDevice] if code.isdigit() and len(code) <= 8 else [StaticDevice]
    for kind in kinds:
        for pk in kind.objects.filter(user=user, confirmed=True).values_list("pk", flat=True):
            with transaction.atomic():
                device: Device = kind.objects.select_for_update().get(pk=pk)
                if device.verify_is_allowed()[0] and device.verify_token(code):  # type: ignore[no-untyped-call]
                    return device
    log.warning("second factor: wrong code for user %s", user.pk)
    return None


def mark_verified(request: HttpRequest, device: Device, *, rotate: bool) -> None:
    """This session passed `device` just now. Signing in (`rotate`) changes the session key — a privilege
    change — and the signed-in session row follows it. A step-up keeps the key: the session was verified
    already, and the page's requests in flight still carry the old cookie."""
    from incidents.accounts.sessions import rekey

    if rotate:
        old = request.session.session_key
        request.session.cycle_key()
        rekey(old, request.session.session_key)
    request.session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    request.session[VERIFIED_AT] = time.time()
    request.user.otp_device = device  # type: ignore[union-attr]


def start_enrolment(user: User, pending: int | None) -> TOTPDevice:
    """The unconfirmed authenticator this enrolment shows (the same one on a reload, so a scanned code stays
    valid), or a new one."""
    if pending is not None:
        found: TOTPDevice | None = TOTPDevice.objects.filter(pk=pending, user=user, confirmed=False).first()
        if found is not None:
            return found
    created: TOTPDevice = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return created


def matches_new(device: TOTPDevice, code: str) -> bool:
    """Does `code` come from the authenticator being set up (not yet confirmed)?"""
    code = code.replace(" ", "")
    return code.isdigit() and bool(device.verify_token(code))  # type: ignore[no-untyped-call]


@transaction.atomic
def finish_enrolment(user: User, device: TOTPDevice) -> list[str]:
    """The new authenticator replaces any earlier one; fresh recovery codes replace the old ones. Returns the
    codes, to be shown once."""
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    log.info("second factor: user %s enrolled an authenticator", user.pk)
    return new_recovery_codes(user)


@transaction.atomic
def new_recovery_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    static = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    codes = [secrets.token_hex(5) for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=static, token=c) for c in codes])
    log.info("second factor: user %s has new recovery codes", user.pk)
    return codes


def recovery_codes_left(user: User) -> int:
    return int(StaticToken.objects.filter(device__user=user, device__confirmed=True).count())


def qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URL as an inline SVG path (no <script>, no external reference)."""
    image: Any = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    out = io.BytesIO()
    image.save(out)
    svg = out.getvalue().decode()
    return svg[svg.index("<svg") :]


def secret_text(device: TOTPDevice) -> str:
    """The key in base32, grouped by four, for typing into an app that cannot scan."""
    from base64 import b32encode

    key = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))
