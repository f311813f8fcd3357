"""A time a person types into a form ("18:00", or a date and a time), read in their own zone — and the
question to ask before saving when a time alone has already passed today and so means tomorrow.

"Next update 18:00" typed at 21:19 is tomorrow's 18:00; that was silently assumed before (issue #15). Now the
form says so and asks ("18:00 typed at 21:19 → tomorrow, 5 Dec, 18:00 CET — is that what you mean?") until the
person confirms; the browser shows the same words as they type (static/js/when.js). Imports nothing of the
project; the forms use it (`TypedTimeField`, `ask_about_rollover`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from incidents.timetext import month_abbr

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Typed:
    """What a typed time means: the moment, and whether a time alone rolled over to tomorrow."""

    at: datetime
    typed: str
    rolled: bool = False  # a time alone, earlier than now today: the next such moment is tomorrow


def read_typed(
    raw: str, *, day: str = "", now: datetime | None = None, zone: tzinfo | None = None
) -> Typed | None:
    """`raw` as a moment in `zone` (default: the current one, i.e. the viewer's). "HH:MM" alone is the
    next such moment (rolled over to tomorrow when it has passed today); with `day` ("YYYY-MM-DD"), that
    day; a full "YYYY-MM-DDTHH:MM" is taken as given. Empty: None. Raises ValueError with a message."""
    raw, day = raw.strip(), day.strip()
    if not raw:
        if day:
            raise ValueError(_("Give the time as well as the date."))
        return None
    now = now or timezone.now()
    zone = zone or timezone.get_current_timezone()
    match = _HHMM.match(raw)
    if match:
        clock = time(int(match[1]), int(match[2]))
        local_now = now.astimezone(zone)
        if day:
            try:
                on = date.fromisoformat(day)
            except ValueError:
                raise ValueError(_("Give the date as YYYY-MM-DD.")) from None
            return Typed(at=datetime.combine(on, clock, tzinfo=zone), typed=raw)
        at = datetime.combine(local_now.date(), clock, tzinfo=zone)
        if at <= local_now:
            return Typed(at=at + timedelta(days=1), typed=raw, rolled=True)
        return Typed(at=at, typed=raw)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(_("Give the time as HH:MM, e.g. 14:30.")) from None
    return Typed(at=parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=zone), typed=raw)


def rollover_question(typed: Typed, *, now: datetime | None = None, zone: tzinfo | None = None) -> str:
    """The question a rolled-over time asks before it is saved, in the person's zone, named."""
    zone = zone or timezone.get_current_timezone()
    local_now = (now or timezone.now()).astimezone(zone)
    at = typed.at.astimezone(zone)
    return _(
        "%(typed)s typed at %(now)s → tomorrow, %(day)s %(month)s, %(time)s %(zone)s — is that what you mean?"
    ) % {
        "typed": typed.typed,
        "now": f"{local_now:%H:%M}",
        "day": at.day,
        "month": month_abbr(at.month),
        "time": f"{at:%H:%M}",
        "zone": at.tzname() or "",
    }


class TypedTimeField(forms.CharField):
    """A time typed as "HH:MM" (or a full local date and time), in the viewer's zone; cleans to `Typed`."""

    widget = forms.TimeInput(attrs={"type": "time", "data-when": ""})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 32)
        super().__init__(**kwargs)

    def clean(self, value: Any) -> Any:
        raw = super().clean(value)
        try:
            return read_typed(raw or "")
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from None


ROLLOVER_CONFIRM = gettext_lazy("Yes, tomorrow")


def ask_about_rollover(form: forms.Form, field: str, confirm: str) -> None:
    """In a form's clean(): a time alone that rolled over to tomorrow is an error carrying the question,
    until the person ticks `confirm` (the same box the browser shows as they type)."""
    typed = form.cleaned_data.get(field)
    if isinstance(typed, Typed) and typed.rolled and not form.cleaned_data.get(confirm):
        form.add_error(field, forms.ValidationError(rollover_question(typed), code="rollover"))
