"""Second-factor pages (verify, enrol, recovery codes), the security page with the signed-in sessions, and the
password views that end the person's other sessions."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordResetForm
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from incidents.accounts import otp, sessions, throttle
from incidents.accounts.passkeys import passkeys_of
from incidents.accounts.stepup import step_up_required
from incidents.http import AuthRequest

PENDING = "warroom_otp_pending_device"


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=24,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autofocus": True,
                "spellcheck": "false",
            }
        ),
    )


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return "/"


@login_required
def verify(request: AuthRequest) -> HttpResponse:
    """The second step of signing in: a code from the authenticator app, or a recovery code."""
    if not otp.has_device(request.user):
        return redirect("accounts:enrol")
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        device = otp.check_code(request.user, form.cleaned_data["code"])
        if device is not None:
            otp.mark_verified(request, device, rotate=True)
            if device.persistent_id.startswith("otp_static"):
                left = otp.recovery_codes_left(request.user)
                messages.warning(
                    request,
                    _("You used a recovery code; %(left)d left. Make new ones on your security page.")
                    % {"left": left},
                )
            return redirect(_next(request))
        form.add_error(
            "code", _("That code did not work. Codes change every 30 seconds and each works once.")
        )
        status = 422
    context = {"form": form, "next": _next(request), "has_passkey": otp.has_passkey(request.user)}
    return render(request, "accounts/verify.html", context, status=status)


@login_required
def enrol(request: AuthRequest) -> HttpResponse:
    """Set up (or replace) the authenticator app: scan, type one code, see the recovery codes once.
    A session that has not passed its current second factor cannot replace it."""
    if otp.has_device(request.user) and not otp.is_verified(request):
        return redirect("accounts:verify")
    device = otp.start_enrolment(request.user, request.session.get(PENDING))
    request.session[PENDING] = device.pk
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        if otp.matches_new(device, form.cleaned_data["code"]):
            replacing = otp.has_device(request.user)
            codes = otp.finish_enrolment(request.user, device)
            del request.session[PENDING]
            otp.mark_verified(request, device, rotate=not otp.is_verified(request))
            if replacing:  # a changed second factor ends every other session (R10)
                sessions.end_others(request.user, keep=request.session.session_key)
            return render(request, "accounts/recovery_codes.html", {"codes": codes, "next": _next(request)})
        form.add_error(
            "code", _("That code did not match. Check the app shows the War Room entry you just added.")
        )
        status = 422
    context = {
        "form": form,
        "qr": otp.qr_svg(device),
        "secret": otp.secret_text(device),
        "next": _next(request),
    }
    return render(request, "accounts/enrol.html", context, status=status)


@require_POST
@login_required
@step_up_required
def recovery_codes(request: AuthRequest) -> HttpResponse:
    if not otp.has_device(request.user):
        return redirect("accounts:enrol")
    codes = otp.new_recovery_codes(request.user)
    sessions.end_others(request.user, keep=request.session.session_key)
    return render(request, "accounts/recovery_codes.html", {"codes": codes, "next": "/accounts/security/"})


@login_required
def security(request: AuthRequest) -> HttpResponse:
    context: dict[str, Any] = {
        "sessions": sessions.active(request.user),
        "current": request.session.session_key,
        "has_device": otp.has_device(request.user),
        "codes_left": otp.recovery_codes_left(request.user),
        "passkeys": passkeys_of(request.user),
    }
    return render(request, "accounts/security.html", context)


@require_POST
@login_required
def sign_out_others(request: AuthRequest) -> HttpResponse:
    ended = sessions.end_others(request.user, keep=request.session.session_key)
    messages.success(request, _("Signed out of %(count)d other session(s).") % {"count": ended})
    return redirect("accounts:security")


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django keeps this session; the person's other sessions end (R10)."""

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        sessions.end_others(self.request.user, keep=self.request.session.session_key)  # type: ignore[arg-type]
        return response


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """A password set from a reset link ends every session of the person."""

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        sessions.end_others(form.user, keep=None)
        return response


class ResetForm(PasswordResetForm):
    """The reset mail is written in the recipient's profile language, like every other mail they get: whoever
    asks from whichever browser, the account's owner reads it. A profile without a language follows the
    browser (what "blank" means on the profile), so the request's language stays."""

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        language = getattr(context.get("user"), "language", "") or translation.get_language()
        with translation.override(language):
            super().send_mail(
                subject_template_name,
                email_template_name,
                context,
                from_email,
                to_email,
                html_email_template_name,
            )


class PasswordResetView(auth_views.PasswordResetView):
    """The same answer whether or not the address has an account; past the per-address bucket a 429, past the
    per-account bucket the mail is quietly not sent (the answer stays the same, so it tells nothing). The mail
    goes in the recipient's language (ResetForm); the page answers in the browser's."""

    form_class = ResetForm

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method == "POST":
            flood = throttle.address_flood(request)
            if flood is not None:
                return flood
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form: Any) -> HttpResponse:
        email = form.cleaned_data["email"].strip().lower()
        from django.conf import settings

        wait = throttle.take(
            f"reset:{email}",
            burst=settings.PASSWORD_RESET_BURST,
            refill_seconds=settings.PASSWORD_RESET_REFILL_SECONDS,
        )
        if wait:
            throttle.log.warning("password reset: not sending again so soon to a requested address")
            return redirect(self.get_success_url())
        return super().form_valid(form)


class LoginView(auth_views.LoginView):
    """Django's login, behind the per-address bucket (axes counts per account and address)."""

    redirect_authenticated_user = True

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method == "POST":
            flood = throttle.address_flood(request)
            if flood is not None:
                return flood
        return super().dispatch(request, *args, **kwargs)
