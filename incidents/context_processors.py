"""Template context every page gets (organisation name, the viewer's time zone, its live stream and the
version of its live regions). Imports settings and incidents.live only."""

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
        # Version of every live region rendered in this response (see incidents/live.py).
        "LIVE_STAMP": live.request_stamp(getattr(request, "live_stamp", None) or live.now_stamp()),
        # The page's nudge stream (the viewer's own topics); signed only if a template asks for it.
        "LIVE_STREAM": lambda: _live_stream(request),
    }


def _live_stream(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return ""
    return live.live_url(user=user)
