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
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import requires_csrf_token

# Per status: the page title, its heading, the reason when the exception gives none, and what to do next.
_PAGES = {
    404: (
        gettext_lazy("Not found"),
        gettext_lazy("There is nothing here"),
        gettext_lazy("The link may be mistyped, or what it pointed at has moved."),
        gettext_lazy(
            "If someone sent you this link from an incident, ask them to check it, or find the incident on the "
            "dashboard."
        ),
    ),
    403: (
        gettext_lazy("Not allowed"),
        gettext_lazy("You cannot do this here"),
        gettext_lazy("Your role does not allow this."),
        gettext_lazy(
            "An incident's commander can give you a role in its team; a crisis manager can change what your "
            "account may do."
        ),
    ),
}


def _reason(exception: Exception | None) -> str:
    """Our Http404 and PermissionDenied carry a sentence for the person (gettext, so already in their language).
    A URL that matches nothing carries the URL patterns tried, which are for developers: no reason then."""
    message = exception.args[0] if exception is not None and exception.args else None
    return str(message) if isinstance(message, str | Promise) else ""


def _page(request: HttpRequest, exception: Exception | None, status: int) -> HttpResponse:
    title, heading, default, advice = _PAGES[status]
    context = {"title": title, "heading": heading, "reason": _reason(exception) or default, "advice": advice}
    return render(request, "errors/page.html", context, status=status)


@requires_csrf_token  # the frame's forms (language, log out) need the token even here
def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(request, exception, 404)


@requires_csrf_token
def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(request, exception, 403)


def server_error(request: HttpRequest) -> HttpResponse:
    # No request context: what failed may be the database the context processors read.
    return HttpResponseServerError(loader.get_template("errors/500.html").render())
