"""Typed requests and the one helper that decides between a whole page and an htmx fragment."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_htmx.middleware import HtmxDetails

from incidents.models import User


class HtmxRequest(HttpRequest):
    htmx: HtmxDetails


class AuthRequest(HtmxRequest):
    user: User


def wants_fragment(request: HtmxRequest) -> bool:
    # History restores and boosted navigations need the whole page (django-htmx#410, htmx#3037).
    h = request.htmx
    return bool(h) and not h.boosted and not h.history_restore_request


def render_page_or_fragment(
    request: HtmxRequest,
    template: str,
    fragment: str,
    context: dict[str, Any],
    *,
    status: int = 200,
) -> HttpResponse:
    name = f"{template}#{fragment}" if wants_fragment(request) else template
    response = render(request, name, context, status=status)
    response.headers["Vary"] = "HX-Request"
    return response
