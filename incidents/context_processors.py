"""Template context every page gets (organisation name, the viewer's time zone, whether the signed-in person
has passed the second factor). Imports settings only."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone


def warroom(request: HttpRequest) -> dict[str, Any]:
    return {
        "ORGANISATION_NAME": settings.ORGANISATION_NAME,
        "VIEWER_TIME_ZONE": timezone.get_current_timezone_name(),
        # A password-only session sees no navigation, bell or menu: each would be a request the second-factor
        # gate turns away (incidents/accounts/gate.py), and the bell's would reload the verify page.
        "SIGNED_IN": _signed_in(request),
    }


def _signed_in(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    session = getattr(request, "session", None)
    # The session key is incidents.accounts.otp.VERIFIED_AT (read here by name: this module imports no app code).
    return not settings.OTP_REQUIRED or bool(session is not None and session.get("warroom_otp_verified_at"))
