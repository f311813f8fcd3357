"""The text rules of statements: channels and audiences, canonical text and its sha256, channel limits,
template placeholders, and the refusals they raise.

Plain functions and vocabulary, no tables: models, services and forms all use them. May import
incidents.models.errors only.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from typing import ClassVar

from django.db import models
from django.utils.formats import number_format
from django.utils.translation import gettext, gettext_lazy
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from incidents.models.errors import Refused

# --- vocabulary ------------------------------------------------------------------------------------------


class Audience(models.TextChoices):
    PUBLIC = "public", _("Public")
    CUSTOMERS = "customers", _("Customers")
    EMPLOYEES = "employees", _("Employees")
    PRESS = "press", _("Press")
    REGULATORS = "regulators", _("Regulators")
    PARTNERS = "partners", _("Partners")


class Channel(models.TextChoices):
    X = "x", _("X")
    FACEBOOK = "facebook", _("Facebook")
    INSTAGRAM = "instagram", _("Instagram")
    LINKEDIN = "linkedin", _("LinkedIn")
    TIKTOK = "tiktok", _("TikTok")
    WEBSITE = "website", _("Website")
    PRESS_RELEASE = "press_release", _("Press release")
    EMAIL = "email", _("E-mail")
    INTERNAL_NOTE = "internal_note", _("Internal note")
    SUPPORT_MACRO = "support_macro", _("Support macro")
    MASTODON = "mastodon", _("Mastodon")
    BLUESKY = "bluesky", _("Bluesky")


# Characters a post may have on each channel; channels not listed have no limit. Counted as Unicode code
# points of the canonical text (the same count the editor's live counter shows). X's own counter weighs
# links and some scripts differently, so a text at exactly 280 here may still need a trim there.
CHANNEL_LIMITS: Mapping[str, int] = {
    Channel.X: 280,
    Channel.LINKEDIN: 3000,
    Channel.INSTAGRAM: 2200,
    Channel.FACEBOOK: 63206,
    Channel.TIKTOK: 2200,
    # mastodon.social's default; an instance may allow more (the Mastodon connector checks its own limit).
    Channel.MASTODON: 500,
    # Bluesky counts 300 graphemes; code points are never fewer, so this is the safe side while drafting
    # (the Bluesky connector counts graphemes before anything is sent).
    Channel.BLUESKY: 300,
}

LANGUAGES: list[tuple[str, StrOrPromise]] = [
    ("en", gettext_lazy("English")),
    ("sv", gettext_lazy("Swedish")),
    ("pl", gettext_lazy("Polish")),
    ("ru", gettext_lazy("Russian")),
    ("de", gettext_lazy("German")),
    ("fr", gettext_lazy("French")),
    ("es", gettext_lazy("Spanish")),
    ("nl", gettext_lazy("Dutch")),
    ("no", gettext_lazy("Norwegian")),
    ("da", gettext_lazy("Danish")),
    ("fi", gettext_lazy("Finnish")),
    ("it", gettext_lazy("Italian")),
    ("pt", gettext_lazy("Portuguese")),
]

# Facebook's 63,206 is the longest channel limit; nothing needs more.
MAX_BODY = 64_000


class StatementError(Refused):
    """A refused statement action; the message is shown to the user as is. Nothing was changed."""


class TextRefused(StatementError):
    """The text itself cannot be used (too long for the channel, invisible characters, unfilled
    placeholders): an input problem (422) rather than a refused transition (409)."""

    status: ClassVar[int] = 422


# --- canonical text ----------------------------------------------------------------------------------------

# Bidirectional overrides and isolates can make the text a reviewer reads differ from the bytes that are
# published ("Trojan Source"); C0/C1 control characters have no place in a public statement either.
_FORBIDDEN = re.compile(r"[\u202a-\u202e\u2066-\u2069\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def canonical_text(text: str) -> str:
    """The one form of a statement's text that is stored, hashed, approved and published.

    Unicode NFC; line breaks as "\\n"; trailing whitespace removed from every line; leading and trailing
    blank space removed from the whole. The editor's counter (static/js/statements.js) applies the same
    rules, so what it counts is what the server stores.
    """
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def text_sha256(canonical: str) -> str:
    """sha256 of exactly the bytes that are published: the canonical text in UTF-8."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def check_text(canonical: str, channel: str) -> None:
    """Refuse text that may not become a version on this channel (raises StatementError)."""
    if _FORBIDDEN.search(canonical):
        raise TextRefused(
            gettext(
                "The text contains invisible control or text-direction characters, which could make what "
                "reviewers read differ from what is published. Remove them (retype the affected words)."
            )
        )
    if len(canonical) > MAX_BODY:
        raise TextRefused(
            gettext("Keep a statement under %(limit)s characters.")
            % {"limit": number_format(MAX_BODY, force_grouping=True)}
        )
    limit = CHANNEL_LIMITS.get(channel)
    if limit is not None and len(canonical) > limit:
        raise TextRefused(
            gettext(
                "%(channel)s allows %(limit)s characters; this text has %(used)s. Shorten it by %(over)s."
            )
            % {
                "channel": Channel(channel).label,
                "limit": number_format(limit, force_grouping=True),
                "used": number_format(len(canonical), force_grouping=True),
                "over": number_format(len(canonical) - limit, force_grouping=True),
            }
        )


# --- statement templates ------------------------------------------------------------------------------------

# Placeholders a template may use, and what the drafter is asked for.
PLACEHOLDERS: dict[str, StrOrPromise] = {
    "company": gettext_lazy("Company name"),
    "incident_title": gettext_lazy("What happened, in a few words"),
    "reference": gettext_lazy("Incident reference"),
    "next_update_time": gettext_lazy("When the next update comes"),
    "affected": gettext_lazy("Who is affected"),
    "action": gettext_lazy("What we are doing about it"),
    "contact": gettext_lazy("Where people can get help"),
    "claim": gettext_lazy("The claim going round, in a few words"),
}
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# A placeholder's value: one line, a sentence at most. Longer free text belongs in an edit, which needs the
# full approval chain.
MAX_FILL = 200


def template_placeholders(body: str) -> list[str]:
    """Placeholder names used in `body`, in order of first use."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(body)))


def placeholders_blanked(body: str) -> str:
    """The template's text with every placeholder replaced by a single character: the shortest text it can
    produce, which must still fit its channel."""
    return canonical_text(_PLACEHOLDER.sub("x", body))


def fill_template(body: str, values: Mapping[str, str]) -> str:
    """Replace each {name} with its value. Plain substitution, never str.format (no attribute access)."""
    missing = [name for name in template_placeholders(body) if not values.get(name, "").strip()]
    if missing:
        labels = ", ".join(f"{{{name}}}" for name in missing)
        raise TextRefused(
            gettext("Fill in every placeholder of the template: %(labels)s.") % {"labels": labels}
        )
    for name in template_placeholders(body):
        value = values[name].strip()
        if "\n" in value or len(value) > MAX_FILL:
            raise TextRefused(
                gettext("%(placeholder)s takes one short line (up to %(limit)s characters).")
                % {"placeholder": f"{{{name}}}", "limit": MAX_FILL}
            )
    return canonical_text(_PLACEHOLDER.sub(lambda m: values[m.group(1)].strip(), body))


def is_template_fill(template_body: str, canonical: str) -> bool:
    """Is `canonical` the template's text with only its placeholders filled in (one line each)?

    Everything outside the placeholders must match to the character, so any free-text edit breaks it.
    Linear time (no regex backtracking on user text): each value runs to the first occurrence of the
    literal text that follows its placeholder. A value that itself contains that literal text is not
    recognised as a fill, which errs on the safe side (the version then needs the full chain).
    """
    if not template_body:
        return False
    pieces = _PLACEHOLDER.split(template_body)  # literal, name, literal, name, ..., literal
    literals, count = pieces[0::2], len(pieces) // 2
    if not canonical.startswith(literals[0]):
        return False
    pos = len(literals[0])
    for i in range(count):
        after = literals[i + 1]
        if after:
            end = canonical.find(after, pos + 1)
        elif i == count - 1:
            end = len(canonical)
        else:
            return False  # two placeholders side by side: no way to tell where one ends
        if end < 0:
            return False
        value = canonical[pos:end]
        if not value or "\n" in value or len(value) > MAX_FILL:
            return False
        pos = end + len(after)
    return pos == len(canonical)
