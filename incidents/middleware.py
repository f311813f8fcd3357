"""Request middleware of the base app: input PostgreSQL cannot store, the viewer's time zone, the live-regions
stamp, cache headers. Imports incidents.live only."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils import timezone, translation
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _

from incidents import live

Handler = Callable[[HttpRequest], HttpResponse]


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class NulByteMiddleware:
    """A NUL character in a query or form field is refused with a clear 400. PostgreSQL text cannot hold one,
    so it would otherwise surface as a 500 from whichever query it reached first (a search, a filter, a save).
    Only form bodies are read here: raw bodies (signed webhooks) stay unread for their views."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        fields = [request.GET]
        if request.method == "POST" and request.content_type in FORM_TYPES:
            fields.append(request.POST)
        for data in fields:
            for key, values in data.lists():
                if "\x00" in key or any("\x00" in v for v in values):
                    return HttpResponseBadRequest(
                        _(
                            "The request contained a NUL character (%%00), which is not allowed. Nothing was changed."
                        ),
                        content_type="text/plain; charset=utf-8",
                    )
        return self.get_response(request)


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


class UserLanguageMiddleware:
    """A signed-in person's own language (their profile's) over what the browser asks for. After
    LocaleMiddleware (which has already chosen from the cookie or Accept-Language, and which states the
    active language in Content-Language on the way out) and after authentication."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        language = getattr(user, "language", "") if user is not None and user.is_authenticated else ""
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)


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
