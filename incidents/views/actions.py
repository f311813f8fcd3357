"""One shape for every action view: form → service → refusal or success → answer.

Views describe what to run and how to answer; this module owns the steps between, so that a refused
change is answered the same way everywhere (its status, its message, the user's input kept). May import
models and forms only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpResponse
from django.utils.translation import gettext as _

from incidents.models import Refused

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What became of one action, for the view's answer: a result and a notice, or an error and its status
    (the form is the one the user sent, so the answer can show it again with their input)."""

    result: T | None = None
    notice: str = ""
    error: str = ""
    status: int = 200
    form: forms.BaseForm | None = None
    refused: Refused | None = None

    @property
    def ok(self) -> bool:
        return not self.error


def form_error(form: forms.BaseForm) -> str:
    """Every error of a form in one sentence, each with its field's label (some fields are hidden or were
    not on the form the user saw, so a bare message could not be placed)."""
    parts = []
    for name, errors in form.errors.items():
        field = form.fields.get(name)
        label = str(field.label) if field is not None and field.label else name.replace("_", " ").capitalize()
        parts += [str(e) if name == NON_FIELD_ERRORS else f"{label}: {e}" for e in errors]
    return " ".join(parts) or _("That was not understood.")


def act(
    change: Callable[[Mapping[str, Any]], T],
    answer: Callable[[Outcome[T]], HttpResponse],
    *,
    form: forms.BaseForm | None = None,
    notice: str | Callable[[T], str] = "",
    invalid: str = "",
) -> HttpResponse:
    """Validate `form` (if any), run `change` with its cleaned data, and answer.

    An invalid form is a 422 with `invalid` (or every form error); a service's refusal is answered with its
    own status and message; nothing else is caught — a bug is a 500, not a message. The service runs the
    whole change in its own transaction, so a refusal means nothing was written.
    """
    if form is not None and not form.is_valid():
        return answer(Outcome(error=invalid or form_error(form), status=422, form=form))
    data: Mapping[str, Any] = form.cleaned_data if form is not None else {}
    try:
        result = change(data)
    except Refused as exc:
        response = answer(Outcome(error=str(exc), status=exc.status, form=form, refused=exc))
        retry_after = getattr(exc, "retry_after", None)  # a throttle says when to try again
        if retry_after is not None:
            response["Retry-After"] = str(retry_after)
        return response
    said = notice(result) if callable(notice) else notice
    return answer(Outcome(result=result, notice=said, form=form))
