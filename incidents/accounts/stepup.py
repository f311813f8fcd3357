"""Step-up (R11): approving, rejecting, publishing, handing over command and changing a restriction need a
second-factor check no older than STEP_UP_MAX_AGE. Without one, the action is not run at all: the answer is
a prompt — one code field, placed inside the form the person just sent, so sending the form again carries
the code with everything they had entered; the code is checked first and the action runs in that same
request. Without JavaScript, the prompt is a page that sends the same fields again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from incidents.accounts import otp

CODE_FIELD = "step_up_code"
V = TypeVar("V", bound=Callable[..., HttpResponse])


def step_up_required(view: V) -> V:
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "POST" or otp.is_fresh(request) or not _applies(request):
            return view(request, *args, **kwargs)
        code = request.POST.get(CODE_FIELD, "")
        error = ""
        if code:
            device = otp.check_code(request.user, code)  # type: ignore[arg-type]
            if device is not None:
                otp.mark_verified(request, device, rotate=False)
                return view(request, *args, **kwargs)
            error = _("That code did not work. Codes change every 30 seconds and each works once.")
        return prompt(request, error=error, again=bool(code))

    return wrapped  # type: ignore[return-value]


def _applies(request: HttpRequest) -> bool:
    """Where the organisation does not require a second factor (OTP_REQUIRED=false), step-up asks only people
    who have one; nobody is asked for a code they cannot give."""
    return bool(settings.OTP_REQUIRED) or otp.has_device(request.user)  # type: ignore[arg-type]


def prompt(request: HttpRequest, *, error: str, again: bool) -> HttpResponse:
    context = {"error": error, "field": CODE_FIELD, "has_passkey": otp.has_passkey(request.user)}  # type: ignore[arg-type]
    if request.headers.get("HX-Request"):
        html = render_to_string("accounts/_step_up.html", {**context, "oob": again}, request=request)
        response = HttpResponse(html, status=403)
        # app.js swaps a 403 marked X-Step-Up (other 403s go to the error banner).
        response["X-Step-Up"] = "1"
        if again:  # the prompt is already in the form: replace it (out of band), leave the rest alone
            response["HX-Reswap"] = "none"
        else:
            response["HX-Retarget"] = "closest form"
            response["HX-Reswap"] = "beforeend"
        return response
    fields = [
        (k, v)
        for k, values in request.POST.lists()
        if k not in (CODE_FIELD, "csrfmiddlewaretoken")
        for v in values
    ]
    return TemplateResponse(
        request,
        "accounts/step_up.html",
        {**context, "fields": fields, "action": request.get_full_path()},
        status=403,
    )
