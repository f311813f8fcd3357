"""The pages a person sees when a link leads nowhere (404), to something their role does not allow (403), or
when the server fails (500): inside the war room's frame, in the person's language, with the reason and a way
back. Django's defaults are a line of English on an empty page.

Routed by warroom/urls.py (handler403/404/500); Django calls them only when DEBUG is off.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.utils.functional import Promise
from django.views.decorators.csrf import requires_csrf_token


def _reason(exception: Exception | None) -> str:
    """Our Http404 and PermissionDenied carry a sentence for the person (gettext, so already in their language).
    A URL that matches nothing carries the URL patterns tried, which are for developers: no reason then."""
    message = exception.args[0] if exception is not None and exception.args else None
    return str(message) if isinstance(message, str | Promise) else ""


@requires_csrf_token  # the frame's forms (language, log out) need the token even here
def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/404.html", {"reason": _reason(exception)}, status=404)


@requires_csrf_token
def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/403.html", {"reason": _reason(exception)}, status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    # No request context: what failed may be the database the context processors read.
    return HttpResponseServerError(loader.get_template("errors/500.html").render())
