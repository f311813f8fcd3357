"""How long a text is on each platform, and the refusal when it is too long — checked before anything is sent.

Platforms count graphemes (what a reader sees as one character: "👩‍👩‍👧" is one, though five code points),
not code points: `regex`'s \\X is the Unicode extended grapheme cluster (UAX #29). May import models only.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex
from django.utils.translation import gettext as _

from incidents.publishing.models import Connector, ConnectorKind

_GRAPHEME = regex.compile(r"\X")
# Mastodon counts every link as 23 characters (characters_reserved_per_url) and a remote mention
# "@user@domain" as "@user". Its link detection is Twitter's; this is the usual approximation of it.
_URL = regex.compile(r"https?://[^\s<>\"]+", regex.IGNORECASE)
_REMOTE_MENTION = regex.compile(r"(?<![\w@])(@\w+)@[\w.-]+\w", regex.UNICODE)
MASTODON_URL_LENGTH = 23
BLUESKY_GRAPHEMES = 300
BLUESKY_BYTES = 3000  # maxLength of app.bsky.feed.post text, read as UTF-8 bytes


def graphemes(text: str) -> int:
    return len(_GRAPHEME.findall(text))


def mastodon_length(text: str) -> int:
    counted = _URL.sub("x" * MASTODON_URL_LENGTH, text)
    counted = _REMOTE_MENTION.sub(r"\1", counted)
    return graphemes(counted)


@dataclass(frozen=True)
class Fit:
    ok: bool
    used: int = 0
    limit: int = 0
    unit: str = ""
    why: str = ""


def fit(connector: Connector, text: str) -> Fit:
    """Whether `text` can go to `connector` as it is, and if not, why (in the publisher's words)."""
    if connector.kind == ConnectorKind.MASTODON:
        limit = connector.max_characters or 500
        used = mastodon_length(text)
        if used > limit:
            return Fit(
                False,
                used,
                limit,
                "characters",
                _(
                    "%(name)s allows %(limit)s characters (links count as %(link)d); this text has %(used)s. "
                    "Shorten it by %(over)s."
                )
                % {
                    "name": connector.name,
                    "limit": f"{limit:,}",
                    "link": MASTODON_URL_LENGTH,
                    "used": f"{used:,}",
                    "over": f"{used - limit:,}",
                },
            )
        return Fit(True, used, limit, "characters")
    if connector.kind == ConnectorKind.BLUESKY:
        used = graphemes(text)
        size = len(text.encode("utf-8"))
        if used > BLUESKY_GRAPHEMES:
            return Fit(
                False,
                used,
                BLUESKY_GRAPHEMES,
                "graphemes",
                _(
                    "%(name)s allows %(limit)d characters (graphemes); this text has %(used)s. Shorten it by "
                    "%(over)s."
                )
                % {
                    "name": connector.name,
                    "limit": BLUESKY_GRAPHEMES,
                    "used": f"{used:,}",
                    "over": f"{used - BLUESKY_GRAPHEMES:,}",
                },
            )
        if size > BLUESKY_BYTES:
            return Fit(
                False,
                size,
                BLUESKY_BYTES,
                "bytes",
                _("%(name)s allows %(limit)s bytes of text; this one has %(size)s.")
                % {"name": connector.name, "limit": f"{BLUESKY_BYTES:,}", "size": f"{size:,}"},
            )
        return Fit(True, used, BLUESKY_GRAPHEMES, "graphemes")
    if connector.kind == ConnectorKind.WEBHOOK and connector.max_characters:
        used = graphemes(text)
        if used > connector.max_characters:
            return Fit(
                False,
                used,
                connector.max_characters,
                "characters",
                _("%(name)s takes at most %(limit)s characters; this text has %(used)s.")
                % {"name": connector.name, "limit": f"{connector.max_characters:,}", "used": f"{used:,}"},
            )
        return Fit(True, used, connector.max_characters, "characters")
    return Fit(True)
