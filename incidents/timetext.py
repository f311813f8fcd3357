"""Times inside stored texts: one form to write them in, restated in each reader's own zone.

A text the system stores — a timeline entry, a notification, an e-mail, a webhook message — states a moment
as a *stamp*: ``2026-06-03 18:00 UTC``. Unambiguous (date, time and zone), readable as it stands (exports,
search, a plain-text mail client), and recognisable, so that wherever a text has one reader it is restated
in that reader's zone, named ("3 Jun, 20:00 CEST"):

- notifications and their e-mails belong to one person: `notify()` restates the stamps in the recipient's
  zone before it stores the text (`for_zone`);
- a timeline entry is shared by everyone, its fragment rendered once: each stamp becomes
  ``<time datetime="…" data-local>`` (`stamps_to_html`), which the room's script restates in the viewer's
  zone, exactly as it does the entry's own time;
- a page that shows a stored text as text (the replay) restates it for its viewer on the server;
- a webhook goes to a channel, not a person: the organisation's zone (settings.TIME_ZONE).

Imports nothing of the project but settings (models, services, views and templates all use it).
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils import translation
from django.utils.dates import MONTHS_3, MONTHS_ALT
from django.utils.html import format_html
from django.utils.translation import gettext as _

STAMP = re.compile(r"\b(\d{4})-(\d{2})-(\d{2}) ([01]\d|2[0-3]):([0-5]\d) UTC\b")


@functools.cache
def _months(language: str | None) -> tuple[str, ...]:
    # Django's own catalogues translate the month names; English keeps "Jan", other languages their usual
    # lower-case abbreviation ("sty", "янв", "jan"). Cached per language: list pages format hundreds of times.
    abbreviations = tuple(str(MONTHS_3[n]) for n in range(1, 13))
    return tuple(m.title() for m in abbreviations) if (language or "en").startswith("en") else abbreviations


@functools.cache
def _full_months(language: str | None) -> tuple[str, ...]:
    # The form that follows a day number ("5 grudnia", "5 декабря"): Django's "alt. month" names.
    return tuple(str(MONTHS_ALT[n]) for n in range(1, 13))


def month_abbr(month: int) -> str:
    """The month's short name in the active language: "Jun", "cze", "июн", "jun"."""
    return _months(translation.get_language())[month - 1]


def organisation_zone() -> tzinfo:
    """The organisation's zone (settings.TIME_ZONE): for texts with many readers (a chat channel, the
    public)."""
    return zone_of(settings.TIME_ZONE)


def zone_of(name: str | None) -> tzinfo:
    """A person's zone by its name (their profile's), else the organisation's, else UTC."""
    for candidate in (name, settings.TIME_ZONE):
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return UTC


def stamp(at: datetime) -> str:
    """The moment as a stored text states it: ``2026-06-03 18:00 UTC`` (to the minute)."""
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def local(at: datetime, zone: tzinfo, *, date: bool = True) -> str:
    """The moment in `zone`, with the zone named: "3 Jun, 20:00 CEST" (or "20:00 CEST" without the date).
    The same words as the pages' `when` tag and the room's script."""
    moment = at.astimezone(zone)
    clock = f"{moment:%H:%M} {moment.tzname() or ''}".rstrip()
    return f"{moment.day} {month_abbr(moment.month)}, {clock}" if date else clock


def public_time(at: datetime, zone: tzinfo, *, said_at: datetime) -> str:
    """A promised time as a public statement says it, in `zone` (the organisation's), named: "18:00 CET"
    on the day it is said, "09:00 CET on 5 December" for a later day — never "tomorrow", which a reader
    the next morning would misread."""
    moment = at.astimezone(zone)
    clock = f"{moment:%H:%M} {moment.tzname() or ''}".rstrip()
    if moment.date() == said_at.astimezone(zone).date():
        return clock
    day = f"{moment.day} {_full_months(translation.get_language())[moment.month - 1]}"
    return _("%(time)s on %(day)s") % {"time": clock, "day": day}


def _parse(match: re.Match[str]) -> datetime | None:
    try:
        year, month, day, hour, minute = (int(g) for g in match.groups())
        return datetime(year, month, day, hour, minute, tzinfo=UTC)
    except ValueError:  # 2026-02-31: not a moment; leave the text as it is
        return None


def for_zone(text: str, zone: tzinfo) -> str:
    """`text` with every stamp restated in `zone`, named."""

    def restate(match: re.Match[str]) -> str:
        at = _parse(match)
        return local(at, zone) if at is not None else match.group(0)

    return STAMP.sub(restate, text)


def stamps_to_html(html: str) -> str:
    """Escaped HTML with every stamp wrapped in ``<time datetime data-local>`` for the browser to restate in
    the viewer's zone (the stamp itself stays the fallback text). Stamps are digits, dashes and "UTC", so
    escaping never touches them."""

    def wrap(match: re.Match[str]) -> str:
        at = _parse(match)
        if at is None:
            return match.group(0)
        return str(format_html('<time datetime="{}" data-local>{}</time>', at.isoformat(), match.group(0)))

    return STAMP.sub(wrap, html)
