"""Request middleware of the base app: the viewer's time zone, the live-regions stamp, cache headers. Imports incidents.live only."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import patch_cache_control

from incidents import live

Handler = Callable[[HttpRequest], HttpResponse]


class UserTimezoneMiddleware:
    """Render every time in the viewer's own zone (their profile setting)."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The version every live region of this response carries (incidents/live.py): taken before any of
        # its data is read, so a nudge stamped after a later commit is always newer.
        request.live_stamp = live.begin_request()  # type: ignore[attr-defined]
        user = getattr(request, "user", None)
        tz_name = getattr(user, "time_zone", None) if user is not None and user.is_authenticated else None
        try:
            if tz_name:
                timezone.activate(zoneinfo.ZoneInfo(tz_name))
            else:
                timezone.deactivate()
            return self.get_response(request)
        finally:
            timezone.deactivate()


class PrivateCacheMiddleware:
    """Pages of an incident must not linger in shared or browser caches (ASVS 14.3.2)."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            patch_cache_control(response, no_store=True, private=True)
        return response
