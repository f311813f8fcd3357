"""The app's URLs plus the baseline: a bare view behind exactly the same middleware stack."""

from __future__ import annotations

from typing import cast

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path

from warroom.urls import urlpatterns as app_urlpatterns


def bare(request: HttpRequest) -> HttpResponse:
    """The floor: what any request costs before a view does anything (no login required)."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns: list[URLPattern | URLResolver] = [
    path("bench/bare/", bare, name="bench-bare"),
    # warroom.urls does not annotate its list (mypy infers list[object]).
    *cast("list[URLPattern | URLResolver]", app_urlpatterns),
]
