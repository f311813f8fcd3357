"""RSS and Atom feeds (Google Alerts, Talkwalker Alerts, Mastodon tag and account feeds, news sites).

A conditional GET with the validators of the last good poll (both ETag and Last-Modified: some servers send
only one); a 304 stores and writes nothing. The bytes are handed to feedparser as a stream (a plain string
would let it open URLs or files). A feed that is not well-formed is refused whole, with the parser's reason;
only harmless complaints (a charset declared differently, a non-XML content type) are let through.
Dates: feedparser's UTC tuples through `calendar.timegm`; an entry without a date it can read is dated when
we first saw it (feedparser normalises bogus dates silently — listening-and-publishing.md §1).
"""

from __future__ import annotations

import calendar
import hashlib
import html
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import feedparser
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.translation import gettext as _

from incidents.listening.models import Source
from incidents.listening.records import (
    FieldProblem,
    IngestError,
    MentionRecord,
    build_records,
    clean_text,
    external_key,
    parse_language,
    parse_platform,
    parse_url,
)
from incidents.listening.sources.http import fetch

ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"


@dataclass
class FeedPoll:
    records: list[MentionRecord] = field(default_factory=list)
    not_modified: bool = False
    etag: str = ""
    last_modified: str = ""


def plain(value: Any) -> str:
    return " ".join(html.unescape(strip_tags(str(value or ""))).split())


def poll_feed(source: Source) -> FeedPoll:
    headers = {"Accept": ACCEPT}
    if source.etag:
        headers["If-None-Match"] = source.etag
    if source.last_modified:
        headers["If-Modified-Since"] = source.last_modified
    response = fetch(source.url, headers=headers)
    if response.status == 304:
        return FeedPoll(not_modified=True, etag=source.etag, last_modified=source.last_modified)
    if response.status != 200:
        raise IngestError([_("the feed answered HTTP %(status)d") % {"status": response.status}])
    parsed = feedparser.parse(
        io.BytesIO(response.body),
        response_headers={k.lower(): v for k, v in response.headers.items()},
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    if parsed.bozo and not isinstance(parsed.get("bozo_exception"), feedparser.ThingsNobodyCaresAboutButMe):
        raise IngestError([_("the feed is not well-formed: %(why)s") % {"why": parsed.get("bozo_exception")}])
    now = timezone.now()
    records = build_records(
        parsed.entries,
        to_record=lambda entry: _record(entry, source, now),
        label=lambda n, entry: _label(n, entry),
    )
    return FeedPoll(
        records=records,
        etag=str(response.headers.get("ETag") or ""),
        last_modified=str(response.headers.get("Last-Modified") or ""),
    )


def _label(n: int, entry: Any) -> str:
    title = plain(entry.get("title"))[:50] if isinstance(entry, Mapping) else ""
    return _("entry %(n)d (“%(title)s”)") % {"n": n, "title": title} if title else _("entry %(n)d") % {"n": n}


def _when(entry: Mapping[str, Any], now: datetime) -> datetime:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return min(datetime.fromtimestamp(calendar.timegm(value), tz=UTC), now)
    return now


def _record(entry: Mapping[str, Any], source: Source, now: datetime) -> MentionRecord:
    title, summary = plain(entry.get("title")), plain(entry.get("summary"))
    link = str(entry.get("link") or "")
    try:
        url = parse_url(link)
    except FieldProblem:
        url = ""  # a relative or odd link is not worth refusing the feed for; the text is what counts
    when = _when(entry, now)
    fallback = ""
    if title:  # no id and no link: the title and date identify it (listening-and-publishing.md §1)
        published = str(entry.get("published", ""))
        fallback = "sha256:" + hashlib.sha256(f"{title}|{published}".encode()).hexdigest()
    raw_id = entry.get("id") or link or fallback
    if not raw_id:
        raise FieldProblem(_("has no id, link or title"))
    text = clean_text(
        f"{title} — {summary}" if title and summary and summary != title else (title or summary)
    )
    if not text:
        raise FieldProblem(_("has no title or text"))
    return MentionRecord(
        external_id=external_key(raw_id),
        text=text,
        published_at=when,
        platform=parse_platform(None, url, source.platform),
        url=url,
        author_handle=plain(entry.get("author"))[:200],
        language=parse_language(entry.get("language") or ""),
    )
