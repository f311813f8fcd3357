"""The canonical mention record every source is mapped to, and the checks that guard it.

Feeds, webhooks, CSV exports and Mastodon all produce `MentionRecord`s; `ingest` stores them. Anything a
sender got wrong (no id, a date that is not a date, a sentiment off the scale, a `javascript:` link) is an
`IngestError` naming the item and the field, raised before anything of the batch is stored.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from email.utils import parsedate_to_datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.listening.models import MentionPlatform, Sentiment

MAX_TEXT = 10_000
MAX_ERRORS_SHOWN = 10
# Senders' clocks drift; a date this far ahead is a mistake, not drift.
FUTURE_SLACK = timedelta(days=1)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


class IngestError(ValueError):
    """A batch was refused; the message names the items and fields at fault. Nothing of it was stored."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:MAX_ERRORS_SHOWN]
        more = len(problems) - len(shown)
        text = "; ".join(shown) + (_(" … and %(n)d more problems") % {"n": more} if more > 0 else "")
        super().__init__(_("Nothing of this batch was stored. %(problems)s") % {"problems": text})


class FieldProblem(ValueError):
    """One field of one item is wrong; the caller adds which item."""


@dataclass(slots=True)
class MentionRecord:
    external_id: str
    text: str
    published_at: datetime
    platform: str
    url: str = ""
    author_handle: str = ""
    author_name: str = ""
    author_reach: int | None = None
    language: str = ""
    sentiment: str | None = None  # a source's own label, when it sends one
    sentiment_score: float | None = None


# --- single values ------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
)


def parse_when(value: Any, *, zone: tzinfo = UTC, now: datetime | None = None) -> datetime:
    """A publication time from epoch seconds or milliseconds, ISO 8601, RFC 2822 or a common export format.
    Times without a zone are in `zone` (the export's). A little in the future (clock drift) becomes now."""
    now = now or timezone.now()
    when: datetime | None = None
    if isinstance(value, bool) or value is None or value == "":
        raise FieldProblem(_("no publication date"))
    is_text = isinstance(value, str)
    # "2026-…" (ISO 8601 and the like, the usual shape) is never a number: it skips the number's regex.
    if isinstance(value, int | float) or (is_text and value[4:5] != "-" and _NUMBER.match(value.strip())):
        number = float(value)
        if not math.isfinite(number):
            raise FieldProblem(_("date “%(value)s” is not a date") % {"value": value})
        seconds = number / 1000 if abs(number) >= 1e11 else number  # epoch ms (Talkwalker) or seconds
        try:
            when = datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise FieldProblem(_("date “%(value)s” is not a date") % {"value": value}) from None
    elif is_text:
        raw = value.strip()
        when = _parse_text_date(raw, zone)
        if when is None:
            raise FieldProblem(_("date “%(value)s” is not a date") % {"value": raw[:40]})
    else:
        raise FieldProblem(_("date %(value)r is not a date") % {"value": value})
    if when < EARLIEST:
        raise FieldProblem(_("date “%(value)s” is before 2000") % {"value": value})
    if when > now + FUTURE_SLACK:
        raise FieldProblem(_("date “%(value)s” is in the future") % {"value": value})
    return min(when, now)


def _parse_text_date(raw: str, zone: tzinfo) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None:
        for fmt in _FORMATS:
            try:
                parsed = datetime.strptime(raw, fmt)  # noqa: DTZ007  (the zone is added below)
                break
            except ValueError:
                continue
    if parsed is None:
        try:
            parsed = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


_SUFFIX = {"k": 1_000, "m": 1_000_000, "b": 1_000_000_000}


def parse_reach(value: Any) -> int | None:
    """Followers or reach: 12400, "12 400", "12,400", "12.400", "1.2k", "3,4M"; blank is unknown."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise FieldProblem(_("reach %(value)r is not a number") % {"value": value})
    if isinstance(value, int | float):
        number = float(value)
    else:
        raw = str(value).strip().lower().replace("\u00a0", "").replace(" ", "").replace("\u202f", "")
        factor = 1
        if raw and raw[-1] in _SUFFIX:
            factor, raw = _SUFFIX[raw[-1]], raw[:-1]
            raw = raw.replace(",", ".")  # "3,4M"
        elif re.fullmatch(r"\d{1,3}([.,]\d{3})+", raw):
            raw = re.sub(r"[.,]", "", raw)  # thousands separators either way
        else:
            raw = raw.replace(",", ".")
        try:
            number = float(raw) * factor
        except ValueError:
            raise FieldProblem(_("reach “%(value)s” is not a number") % {"value": value}) from None
    if not math.isfinite(number) or number < 0:
        raise FieldProblem(_("reach “%(value)s” is not a positive number") % {"value": value})
    return int(number)


_LABELS = {
    "negative": Sentiment.NEGATIVE,
    "neg": Sentiment.NEGATIVE,
    "positive": Sentiment.POSITIVE,
    "pos": Sentiment.POSITIVE,
    "neutral": Sentiment.NEUTRAL,
    "neu": Sentiment.NEUTRAL,
    "mixed": Sentiment.NEUTRAL,
}
_NO_LABEL = {"", "unknown", "none", "n/a", "null", "not rated", "unrated"}


def parse_sentiment(value: Any) -> tuple[str | None, float | None]:
    """A source's own sentiment: a label, or a number on -1..1 (Brand24 exports -1/0/1). None: no label."""
    if value is None or isinstance(value, bool):
        return None, None
    if isinstance(value, str):
        raw = value.strip().lower()
        if raw in _NO_LABEL:
            return None, None
        if raw in _LABELS:
            return _LABELS[raw], None
        if not _NUMBER.match(raw):
            raise FieldProblem(_("sentiment “%(value)s” is not one we know") % {"value": value[:30]})
        value = float(raw)
    if not isinstance(value, int | float):
        raise FieldProblem(_("sentiment %(value)r is not one we know") % {"value": value})
    number = float(value)
    if not math.isfinite(number) or not -1 <= number <= 1:
        raise FieldProblem(_("sentiment %(value)s is outside -1…1") % {"value": value})
    label = (
        Sentiment.NEGATIVE if number <= -0.05 else Sentiment.POSITIVE if number >= 0.05 else Sentiment.NEUTRAL
    )
    return label, number


_PLATFORM_NAMES = {
    "twitter": MentionPlatform.X,
    "x": MentionPlatform.X,
    "fb": MentionPlatform.FACEBOOK,
    "bsky": MentionPlatform.BLUESKY,
    "web": MentionPlatform.NEWS,
    "news": MentionPlatform.NEWS,
    "blogs": MentionPlatform.BLOG,
    "forums": MentionPlatform.FORUM,
    "review": MentionPlatform.REVIEWS,
    "podcasts": MentionPlatform.OTHER,
}
_PLATFORM_HOSTS = (
    (("twitter.com", "x.com"), MentionPlatform.X),
    (("facebook.com", "fb.com"), MentionPlatform.FACEBOOK),
    (("instagram.com",), MentionPlatform.INSTAGRAM),
    (("tiktok.com",), MentionPlatform.TIKTOK),
    (("linkedin.com",), MentionPlatform.LINKEDIN),
    (("youtube.com", "youtu.be"), MentionPlatform.YOUTUBE),
    (("reddit.com",), MentionPlatform.REDDIT),
    (("bsky.app",), MentionPlatform.BLUESKY),
    (("trustpilot.com",), MentionPlatform.REVIEWS),
)


# Looked up once per mention: a frozenset, not the enum's `values` (which builds a list on every access).
_PLATFORM_VALUES = frozenset(MentionPlatform.values)
_HOST = re.compile(r"^https?://(?:[^@/?#]*@)?([^:/?#]+)", re.IGNORECASE)


def parse_platform(value: Any, url: str, default: str) -> str:
    raw = str(value or "").strip().lower() if value else ""
    if raw in _PLATFORM_VALUES:
        return raw
    if raw in _PLATFORM_NAMES:
        return _PLATFORM_NAMES[raw]
    match = _HOST.match(url) if url else None
    if match is None:
        return default
    return _platform_of_host(match[1].lower()) or default


@functools.lru_cache(maxsize=1024)  # a batch comes from a handful of hosts
def _platform_of_host(host: str) -> str:
    for hosts, platform in _PLATFORM_HOSTS:
        if any(host == h or host.endswith("." + h) for h in hosts):
            return platform
    return ""


def parse_url(value: Any) -> str:
    raw = str(value or "").strip()
    if not raw:
        return ""
    if not raw.startswith(("https://", "http://")) or len(raw) < 10 or raw[raw.index("//") + 2] in "/?#":
        raise FieldProblem(_("link “%(value)s” is not an http(s) address") % {"value": raw[:60]})
    if len(raw) > 1000:
        raise FieldProblem(_("link is longer than 1,000 characters"))
    return raw


_LANGUAGE = re.compile(r"^([a-z]{2})(?:[-_][a-z0-9]+)?$")


def parse_language(value: Any) -> str:
    """ISO 639-1 ("en", "pt-BR" → "pt"); anything else is "not given" and gets detected."""
    raw = str(value or "").strip().lower()
    match = _LANGUAGE.match(raw)
    return match[1] if match else ""


def external_key(value: Any) -> str:
    raw = str(value if value is not None else "").strip()
    # Longer ids (some tools use whole URLs) are kept stable and short as their hash.
    return raw if len(raw) <= 300 else "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def clean_text(value: Any) -> str:
    text = str(value or "").replace("\x00", "").strip()
    return text[:MAX_TEXT]


# --- whole items ----------------------------------------------------------------------------------------------


def build_records(
    items: Iterable[Any],
    *,
    to_record: Callable[[Mapping[str, Any]], MentionRecord],
    label: Callable[[int, Any], str],
) -> list[MentionRecord]:
    """Map every item, collecting the problems of all of them; any problem refuses the whole batch."""
    records: list[MentionRecord] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for n, item in enumerate(items, start=1):
        if type(item) is not dict and not isinstance(item, Mapping):  # the ABC check only when it is no dict
            problems.append(_("%(item)s: not an object") % {"item": label(n, item)})
            continue
        try:
            record = to_record(item)
        except FieldProblem as exc:
            problems.append(f"{label(n, item)}: {exc}")
            continue
        first = seen.setdefault(record.external_id, n)
        if first != n:
            # A batch that names one id twice would store the first and silently drop the second.
            problems.append(
                _("%(item)s: the same id as item %(first)d") % {"item": label(n, item), "first": first}
            )
            continue
        records.append(record)
    if problems:
        raise IngestError(problems)
    return records


# Each field of the webhook's JSON item, by the names tried in turn: ours, then the common listening tools'.
_ALIASES = (
    ("url", "original_url", "link"),
    ("id", "external_id", "guid"),
    ("text", "content", "description", "title"),
    ("author", "author_handle", "username", "handle"),
    ("author_name", "name"),
    ("reach", "author_reach", "followers", "followers_count"),
    ("sentiment", "tone", "sentiment_label"),
    ("published_at", "published", "date", "created_at"),
    ("platform", "source_type", "network"),
    ("language", "lang"),
)


def _picked(item: Mapping[str, Any]) -> list[Any]:
    """Each field's first given value (None when none is). One loop over the table, not a call per field:
    it runs for every item of a thousand-item batch."""
    get = item.get
    values: list[Any] = []
    for names in _ALIASES:
        for name in names:
            value = get(name)
            if value is not None and value != "":  # JSON values: "" is the only one equal to ""
                break
        else:
            value = None
        values.append(value)
    return values


def canonical_record(
    item: Mapping[str, Any], *, default_platform: str, now: datetime | None = None
) -> MentionRecord:
    """The webhook's JSON item. Field names of the common listening tools are accepted as aliases. `now`: the
    batch's arrival (dates after it become it), read once for the batch rather than once an item."""
    url, ident, text, author, name, reach, sentiment, published, platform, language = _picked(item)
    url = parse_url(url)
    external_id = external_key(ident or url)
    if not external_id:
        raise FieldProblem(_("no id (and no link to use as one)"))
    text = clean_text(text)
    if not text:
        raise FieldProblem(_("no text"))
    if author is not None and type(author) is not str and isinstance(author, Mapping):  # {"handle": …, …}
        name, reach = author.get("name"), reach or author.get("followers") or author.get("reach")
        author = author.get("handle") or author.get("username") or ""
    label, score = parse_sentiment(sentiment)
    return MentionRecord(
        external_id=external_id,
        text=text,
        published_at=parse_when(published, now=now),
        platform=parse_platform(platform, url, default_platform),
        url=url,
        author_handle=str(author or "")[:200],
        author_name=str(name or "")[:200],
        author_reach=parse_reach(reach or None),  # tools send 0 for a reach they do not know
        language=parse_language(language),
        sentiment=label,
        sentiment_score=score,
    )


def item_label(n: int, item: Any) -> str:
    ident = item.get("id") or item.get("external_id") if isinstance(item, Mapping) else None
    if ident not in (None, ""):
        return _("item %(n)d (id “%(id)s”)") % {"n": n, "id": str(ident)[:60]}
    return _("item %(n)d") % {"n": n}
