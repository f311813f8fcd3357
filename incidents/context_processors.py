"""Template context every page gets (organisation name, the viewer's time zone, whether the signed-in person
has passed the second factor, its live stream and the version of its live regions). Imports settings and
incidents.live only."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from incidents import live


def warroom(request: HttpRequest) -> dict[str, Any]:
    return {
        "ORGANISATION_NAME": settings.ORGANISATION_NAME,
        "VIEWER_TIME_ZONE": timezone.get_current_timezone_name(),
        # A password-only session sees no navigation, bell or menu: each would be a request the second-factor
        # gate turns away (incidents/accounts/gate.py), and the bell's would reload the verify page.
        "SIGNED_IN": _signed_in(request),
        # Version of every live region rendered in this response (see incidents/live.py).
        "LIVE_STAMP": live.request_stamp(getattr(request, "live_stamp", None) or live.now_stamp()),
        # The page's nudge stream (the viewer's own topics); signed only if a template asks for it.
        "LIVE_STREAM": lambda: _live_stream(request),
    }


def _signed_in(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    session = getattr(request, "session", None)
    # The session key is incidents.accounts.otp.VERIFIED_AT (read here by name: this module imports no app code).
    return not settings.OTP_REQUIRED or bool(session is not None and session.get("warroom_otp_verified_at"))


def _live_stream(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    if user is None or not _signed_in(request):  # a password-only session gets no stream (R9)
        return ""
    return live.live_url(user=user)
