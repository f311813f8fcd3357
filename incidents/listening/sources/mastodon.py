"""Mastodon's public API as a live connector: a hashtag timeline, or a search (which needs a token).

Paging (listening-and-publishing.md §3): `min_id=<newest seen>` returns the statuses immediately newer than
it, so following it page by page catches up without gaps however much was posted since the last poll;
`since_id` would return only the newest page and silently skip the rest of a busy hour. The first poll of a
new connector takes only the newest page (no history). Everything a poll fetched is stored in one batch or
not at all, and the cursor moves only with it, so a failure halfway loses nothing: the next poll repeats it.
`X-RateLimit-Remaining: 0` (or a 429) stops the poll until `X-RateLimit-Reset`. Statuses are de-duplicated on
their federation `uri`; boosts count as the status they boost.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.listening.models import MentionPlatform, Source
from incidents.listening.records import (
    FieldProblem,
    IngestError,
    MentionRecord,
    build_records,
    clean_text,
    external_key,
    parse_language,
    parse_reach,
    parse_url,
    parse_when,
)
from incidents.listening.sources.feeds import plain
from incidents.listening.sources.http import FetchError, Response, fetch

PAGE = 40
MAX_PAGES = 10


@dataclass
class MastodonPoll:
    records: list[MentionRecord] = field(default_factory=list)
    cursor: str = ""
    retry_at: datetime | None = None
    pages: int = 0


def _id_key(value: str) -> tuple[int, str]:
    return (int(value), "") if value.isdigit() else (0, value)


def _endpoint(source: Source, min_id: str) -> str:
    base = source.url.rstrip("/")
    params: dict[str, str | int] = {"limit": PAGE}
    if min_id:
        params["min_id"] = min_id
    if source.query:
        return f"{base}/api/v2/search?" + urlencode({"q": source.query, "type": "statuses", **params})
    return f"{base}/api/v1/timelines/tag/{quote(source.tag, safe='')}?" + urlencode(params)


def _retry_at(response: Response) -> datetime | None:
    remaining = response.headers.get("X-RateLimit-Remaining")
    if response.status != 429 and (
        remaining is None or not remaining.strip().lstrip("-").isdigit() or int(remaining) > 0
    ):
        return None
    reset = response.headers.get("X-RateLimit-Reset")
    try:
        return parse_when(reset, now=timezone.now() + timedelta(days=1)) if reset else None
    except FieldProblem:
        return None


def poll_mastodon(source: Source) -> MastodonPoll:
    headers = {"Accept": "application/json"}
    if source.access_token:
        headers["Authorization"] = f"Bearer {source.access_token}"
    statuses: list[Mapping[str, Any]] = []
    cursor = source.cursor
    poll = MastodonPoll(cursor=cursor)
    for page in range(MAX_PAGES):
        response = fetch(_endpoint(source, cursor), headers=headers)
        poll.pages = page + 1
        if response.status == 429:
            poll.retry_at = _retry_at(response) or timezone.now() + timedelta(minutes=5)
            break
        if response.status in (401, 403):
            raise FetchError(
                _("The server refused access (HTTP %(status)d): check the access token.")
                % {"status": response.status}
            )
        if response.status != 200:
            raise FetchError(_("The server answered HTTP %(status)d.") % {"status": response.status})
        try:
            payload = json.loads(response.body)
        except ValueError as exc:
            raise IngestError([_("the answer is not JSON: %(why)s") % {"why": exc}]) from None
        page_items = payload.get("statuses") if isinstance(payload, dict) else payload
        if not isinstance(page_items, list):
            raise IngestError([_("the answer is not a list of statuses")])
        statuses.extend(page_items)
        ids = [str(s.get("id")) for s in page_items if isinstance(s, Mapping) and s.get("id") is not None]
        if ids:
            cursor = max(ids, key=_id_key)
        poll.retry_at = _retry_at(response)
        # The first poll of a connector takes the newest page only; an empty page means we are caught up.
        if not page_items or not source.cursor or poll.retry_at is not None:
            break
    poll.cursor = cursor
    # A boost and the status it boosts (or two boosts of one) are one mention: keep the first of each uri.
    seen: set[str] = set()
    unique = []
    for s in statuses:
        key = _uri(s)
        if key and key in seen:
            continue
        seen.add(key)
        unique.append(s)
    poll.records = build_records(
        unique,
        to_record=_record,
        label=lambda n, s: (
            _("status %(n)d (id %(id)s)") % {"n": n, "id": s.get("id") if isinstance(s, Mapping) else "?"}
        ),
    )
    return poll


def _uri(status: object) -> str:
    if not isinstance(status, Mapping):
        return ""
    boosted = status.get("reblog")
    original = boosted if isinstance(boosted, Mapping) else status
    return str(original.get("uri") or original.get("url") or "")


def _record(status: Mapping[str, Any]) -> MentionRecord:
    boosted = status.get("reblog")
    original: Mapping[str, Any] = boosted if isinstance(boosted, Mapping) else status
    owner = original.get("account")
    account: Mapping[str, Any] = owner if isinstance(owner, Mapping) else {}
    uri = str(original.get("uri") or original.get("url") or "")
    if not uri:
        raise FieldProblem(_("has no uri"))
    text = clean_text(
        " ".join(p for p in (plain(original.get("spoiler_text")), plain(original.get("content"))) if p)
    )
    if not text:
        raise FieldProblem(_("has no text"))
    return MentionRecord(
        external_id=external_key(uri),
        text=text,
        published_at=parse_when(original.get("created_at")),
        platform=MentionPlatform.MASTODON,
        url=parse_url(original.get("url") or ""),
        author_handle=f"@{account.get('acct')}" if account.get("acct") else "",
        author_name=str(account.get("display_name") or "")[:200],
        author_reach=parse_reach(account.get("followers_count")),
        language=parse_language(original.get("language")),
    )
