"""The second-factor gate (R9): a session that signed in with a password only reaches the pages that finish
signing in — verify, or enrol for a person without an authenticator — and nothing else: no page, fragment,
download, stream token (minted by the room pages) or admin page. Also keeps "last seen" of the session."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from incidents.accounts import otp, sessions

Handler = Callable[[HttpRequest], HttpResponse]

# Paths a password-only session may still open: finishing or abandoning sign-in, and what any page needs.
OPEN_PREFIXES = (
    "/accounts/login/",
    "/accounts/logout/",
    "/accounts/second-factor/verify/",
    "/accounts/second-factor/passkey/",
    "/accounts/second-factor/enrol/",
    "/accounts/password_reset/",
    "/accounts/reset/",
    "/healthz",
    "/favicon.ico",
)


class SecondFactorGate:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        self.open = (*OPEN_PREFIXES, settings.STATIC_URL)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return self.get_response(request)
        sessions.touch(request, user)
        if not settings.OTP_REQUIRED or otp.is_verified(request) or request.path.startswith(self.open):
            return self.get_response(request)
        name = "accounts:verify" if otp.has_device(user) else "accounts:enrol"
        target = reverse(name)
        if request.method == "GET" and not request.headers.get("HX-Request"):
            target += "?" + urlencode({"next": request.get_full_path()})
        if request.headers.get("HX-Request"):
            # A fragment: no bytes of it, and htmx sends the whole page to the second-factor step.
            response = HttpResponse(_("Confirm it is you with your second factor first."), status=401)
            response["HX-Redirect"] = target
            return response
        return HttpResponseRedirect(target)
