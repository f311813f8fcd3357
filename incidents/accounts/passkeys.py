"""Passkeys (WebAuthn) as a second factor beside the authenticator app, through django-otp-webauthn: a passkey
is a django-otp device, so the gate, step-up and "a changed second factor ends the other sessions" treat it
like the app. Never a first factor: the password comes first (passwordless login is off).

The library's JSON ceremony views are used through the subclasses below, which
- mark the session verified the way a code does (`otp.mark_verified`: a sign-in rotates the session key, a
  step-up keeps it), instead of the library's own `otp_login`;
- require a signed-in person for both ceremonies, and a verified session no older than the step-up limit to
  add a passkey (adding one changes the second factor: the person's other sessions end);
- take the relying party from the request: its id is the host the person opened (a passkey made on
  `localhost` works on `localhost`), its expected origins that host (which ALLOWED_HOSTS vouches for) and
  SITE_URL's. The library's own script and templates are not used: static/js/passkeys.js is the client,
  loaded like every other script under the strict CSP.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp_webauthn import exceptions
from django_otp_webauthn.helpers import WebAuthnHelper
from django_otp_webauthn.models import WebAuthnCredential
from django_otp_webauthn.utils import rewrite_exceptions
from django_otp_webauthn.views import (
    BeginCredentialAuthenticationView,
    BeginCredentialRegistrationView,
    CompleteCredentialAuthenticationView,
    CompleteCredentialRegistrationView,
)

from incidents.accounts import otp, sessions
from incidents.accounts.stepup import step_up_required
from incidents.http import AuthRequest

log = logging.getLogger("warroom.security")

NAME_MAX = 64


def rp_id(request: HttpRequest) -> str:
    """The relying party id: the host the person opened, without its port (WebAuthn scopes a passkey to it)."""
    return request.get_host().rsplit(":", 1)[0].strip("[]").lower()


def rp_name(request: HttpRequest) -> str:
    return str(settings.OTP_TOTP_ISSUER)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class Helper(WebAuthnHelper):
    def get_allowed_origins(self) -> list[str]:
        # request.get_host() is checked against ALLOWED_HOSTS, so this is one of our own addresses.
        here = f"{self.request.scheme}://{self.request.get_host()}"
        return list(dict.fromkeys([here, _origin(settings.SITE_URL)]))


def passkeys_of(user: Any) -> list[WebAuthnCredential]:
    return list(WebAuthnCredential.objects.filter(user=user, confirmed=True).order_by("created_at"))


class StepUpFirst(exceptions.OTPWebAuthnApiError):
    status_code = 403
    default_code = "step_up"


def _signed_in(request: HttpRequest) -> None:
    if not request.user.is_authenticated:
        raise exceptions.NotAuthenticated()


def _fresh_enough_to_register(request: HttpRequest) -> None:
    """Adding a passkey changes the second factor: the session must have passed one within the step-up limit
    (our sessions carry VERIFIED_AT; django-otp's OTPMiddleware and `user.is_verified()` are not used here)."""
    if not otp.is_fresh(request):
        raise StepUpFirst(
            detail=_("Adding a passkey needs a second-factor check from the last 5 minutes. Sign in again.")
        )


class RegisterBegin(BeginCredentialRegistrationView):
    def _check_user_verified(self, user: Any) -> None:
        _fresh_enough_to_register(self.request)


class RegisterComplete(CompleteCredentialRegistrationView):
    def _check_user_verified(self, user: Any) -> None:
        _fresh_enough_to_register(self.request)

    def post(self, *args: Any, **kwargs: Any) -> HttpResponse:
        user = self.get_user()
        state = self.get_state()  # popped from the session first: a registration response works once
        helper = self.get_helper()
        name = str(self.request.GET.get("name", "")).strip()[:NAME_MAX] or _("Passkey")
        with rewrite_exceptions(logger=log), transaction.atomic():
            device = helper.register_complete(user=user, state=state, data=self.request.data)  # type: ignore[attr-defined]
            WebAuthnCredential.objects.filter(pk=device.pk).update(name=name)
        log.info("second factor: user %s added a passkey", user.pk)  # type: ignore[union-attr]
        # A changed second factor ends every other session (R10), as a new authenticator app does.
        sessions.end_others(user, keep=self.request.session.session_key)  # type: ignore[arg-type]
        messages.success(self.request, _("Passkey “%(name)s” added.") % {"name": name})
        return JsonResponse({"id": device.pk})


class AuthenticateBegin(BeginCredentialAuthenticationView):
    def check_can_authenticate(self) -> None:
        _signed_in(self.request)  # the password first: a passkey is the second step only
        super().check_can_authenticate()


class AuthenticateComplete(CompleteCredentialAuthenticationView):
    def check_can_authenticate(self) -> None:
        _signed_in(self.request)
        super().check_can_authenticate()

    def check_device_usable(self, device: Any) -> None:
        super().check_device_usable(device)
        if device.user_id != self.request.user.pk:
            raise exceptions.CredentialNotFound()

    def complete_auth(self, device: Any) -> Any:
        # Signing in (not verified yet) changes the session key; a step-up keeps it, as with a code.
        otp.mark_verified(self.request, device, rotate=not otp.is_verified(self.request))
        return device.user

    def get_success_url(self) -> str:
        return self.get_redirect_url() or "/"


@require_POST
@login_required
def rename(request: AuthRequest, pk: int) -> HttpResponse:
    """A passkey's name is only a label for its owner (no step-up); an empty name is refused."""
    device = get_object_or_404(WebAuthnCredential, pk=pk, user=request.user)
    name = str(request.POST.get("name", "")).strip()
    if not name or len(name) > NAME_MAX:
        messages.error(request, _("Give the passkey a name of 1 to %(max)d characters.") % {"max": NAME_MAX})
    else:
        WebAuthnCredential.objects.filter(pk=device.pk).update(name=name)
        messages.success(request, _("Passkey renamed to “%(name)s”.") % {"name": name})
    return redirect("accounts:security")


@require_POST
@login_required
@step_up_required
def remove(request: AuthRequest, pk: int) -> HttpResponse:
    """Remove one of the person's passkeys (behind step-up); their other sessions end (R10)."""
    device = get_object_or_404(WebAuthnCredential, pk=pk, user=request.user)
    name = device.name
    device.delete()
    log.info("second factor: user %s removed a passkey", request.user.pk)
    sessions.end_others(request.user, keep=request.session.session_key)
    messages.success(request, _("Passkey “%(name)s” removed.") % {"name": name})
    return redirect("accounts:security")


register_begin = RegisterBegin.as_view()
register_complete = RegisterComplete.as_view()
authenticate_begin = AuthenticateBegin.as_view()
authenticate_complete = AuthenticateComplete.as_view()
