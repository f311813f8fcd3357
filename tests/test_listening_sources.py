"""Polled sources against real HTTP on loopback: feeds with conditional GET, a fake Mastodon API paged with
min_id, and CSV exports with a mapping step. Bad input is refused whole with the item named; a broken source
backs off and tells its owner, and never stops the others."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from django.utils import timezone

from incidents.listening.models import CsvImport, Mention, MentionPlatform, SourceKind
from incidents.listening.records import IngestError
from incidents.listening.services import ListeningError
from incidents.listening.services.watches import SourceFields, source_save
from incidents.listening.sources import csv_import
from incidents.listening.sources.polling import claim, poll_source
from incidents.models import Notification
from tests.factories_listening import make_source, make_watch
from tests.fake_servers import Answer, Seen, fake_server
from tests.helpers import snapshot

pytestmark = pytest.mark.django_db
TABLES = ["listening_mention", "listening_mentionrollup"]


def rss(items: list[tuple[str, str, str]]) -> bytes:
    body = "".join(
        f"<item><guid>{guid}</guid><title>{title}</title><link>https://news.example/{guid}</link>"
        f"<description>&lt;p&gt;{title} — more&lt;/p&gt;</description><pubDate>{date}</pubDate></item>"
        for guid, title, date in items
    )
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Alerts</title>{body}</channel></rss>'.encode()


NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DATE = format_datetime(NOW - timedelta(hours=1))
ITEMS = [
    ("a1", "Northwind recalls boots", DATE),
    ("a2", "Northwind charged twice", DATE),
    ("a3", "Northwind CEO speaks", DATE),
]


def conditional(body: bytes, etag: str = '"v1"', modified: str = "Mon, 30 Nov 2026 11:00:00 GMT"):
    def handle(seen: Seen) -> Answer:
        if seen.headers.get("if-none-match") == etag or seen.headers.get("if-modified-since") == modified:
            return Answer(304)
        return Answer(
            200, body, {"ETag": etag, "Last-Modified": modified, "Content-Type": "application/rss+xml"}
        )

    return handle


def test_a_feed_is_fetched_once_and_then_only_conditionally():
    watch = make_watch("Northwind")
    with fake_server() as server:
        server.route("/feed", conditional(rss(ITEMS)))
        source = make_source(kind=SourceKind.FEED, url=f"{server.url}/feed", platform=MentionPlatform.NEWS)
        first = poll_source(source.pk)
        assert (first.ok, first.stored) == (True, 3)
        before = snapshot(TABLES)
        second = poll_source(source.pk)
        assert (second.ok, second.not_modified, second.stored) == (True, True, 0)
        assert snapshot(TABLES) == before  # a 304 writes no mention and no rollup
        first_request, second_request = server.requests
    assert "if-none-match" not in first_request.headers
    assert second_request.headers["if-none-match"] == '"v1"'
    assert second_request.headers["if-modified-since"] == "Mon, 30 Nov 2026 11:00:00 GMT"
    assert second_request.headers["accept-encoding"] == "identity"
    mention = Mention.objects.get(external_id="a2")
    assert mention.text == "Northwind charged twice — Northwind charged twice — more"
    assert mention.url == "https://news.example/a2"
    assert mention.published_at == NOW - timedelta(hours=1)  # RFC 822 date, converted to UTC exactly
    assert mention.watch_ids == [watch.pk]


def test_a_changed_feed_stores_only_its_new_entries():
    with fake_server() as server:
        bodies = [rss(ITEMS), rss([("a4", "Northwind refunds", DATE), *ITEMS])]
        server.route("/feed", lambda seen: Answer(200, bodies.pop(0) if len(bodies) > 1 else bodies[0]))
        source = make_source(kind=SourceKind.FEED, url=f"{server.url}/feed")
        assert poll_source(source.pk).stored == 3
        source.refresh_from_db()
        source.next_poll_at = timezone.now()
        source.save()
        assert poll_source(source.pk).stored == 1
    assert Mention.objects.count() == 4


def test_a_malformed_feed_is_refused_whole_backs_off_and_other_sources_carry_on(manager):
    with fake_server() as server:
        server.route("/broken", Answer(200, rss(ITEMS)[:-40] + b"<item><title>oops</titl></channel>"))
        server.route("/good", Answer(200, rss(ITEMS)))
        broken = make_source(
            kind=SourceKind.FEED, url=f"{server.url}/broken", owner=manager, poll_interval_seconds=300
        )
        good = make_source(kind=SourceKind.FEED, url=f"{server.url}/good")
        reports = [poll_source(broken.pk), poll_source(good.pk)]
    assert not reports[0].ok
    assert "not well-formed" in reports[0].error
    assert reports[1].stored == 3  # the broken one changed nothing for the good one
    assert Mention.objects.filter(source=broken).count() == 0
    broken.refresh_from_db()
    assert broken.consecutive_failures == 1
    assert "not well-formed" in broken.last_error
    assert broken.next_poll_at is not None
    assert timedelta(minutes=4) < broken.next_poll_at - timezone.now() < timedelta(minutes=6)
    assert broken.lease_until is None


def test_an_entry_without_id_link_or_title_is_named_and_nothing_is_stored():
    body = rss(ITEMS).replace(
        b"</channel>", b"<item><description>no way to tell it apart</description></item></channel>"
    )
    with fake_server() as server:
        server.route("/feed", Answer(200, body))
        source = make_source(kind=SourceKind.FEED, url=f"{server.url}/feed")
        report = poll_source(source.pk)
    assert "entry 4: has no id, link or title" in report.error
    assert Mention.objects.count() == 0


def test_an_unreachable_source_backs_off_exponentially_and_tells_its_owner_once(manager):
    with fake_server() as server:
        url = f"{server.url}/feed"
    source = make_source(
        kind=SourceKind.FEED, url=url, owner=manager, poll_interval_seconds=60
    )  # server gone
    gaps = []
    for _attempt in range(4):
        report = poll_source(source.pk)
        assert "Could not reach 127.0.0.1" in report.error
        source.refresh_from_db()
        assert source.next_poll_at is not None
        gaps.append((source.next_poll_at - timezone.now()).total_seconds())
        source.next_poll_at = timezone.now()
        source.save(update_fields=["next_poll_at"])
    assert gaps[0] < gaps[1] < gaps[2] < gaps[3]
    assert 55 < gaps[0] < 70
    assert 440 < gaps[3] < 540  # 60 · 2³ plus at most 10 % jitter
    notes = Notification.objects.filter(recipient=manager, key__startswith="source-failing:")
    assert notes.count() == 1
    assert "failed 3 times in a row" in notes.get().text


def test_private_addresses_are_refused_before_anything_is_asked(settings):
    settings.LISTENING_ALLOW_PRIVATE_HOSTS = False
    with fake_server() as server:
        server.route("/feed", Answer(200, rss(ITEMS)))
        source = make_source(kind=SourceKind.FEED, url=f"{server.url}/feed")
        report = poll_source(source.pk)
        assert server.requests == []
    assert "private or local address" in report.error


def test_an_oversized_answer_is_refused(settings):
    settings.LISTENING_FETCH_MAX_BYTES = 1000
    with fake_server() as server:
        server.route("/feed", Answer(200, rss(ITEMS * 10)))
        source = make_source(kind=SourceKind.FEED, url=f"{server.url}/feed")
        report = poll_source(source.pk)
    assert "larger than" in report.error
    assert Mention.objects.count() == 0


def test_one_poll_at_a_time_per_source():
    source = make_source(kind=SourceKind.FEED, url="https://feeds.example/x")
    assert claim(source.pk) is not None
    assert claim(source.pk) is None  # the lease is held
    assert poll_source(source.pk).claimed is False
    assert (
        claim(source.pk, now=timezone.now() + timedelta(minutes=3)) is not None
    )  # an abandoned lease expires


# --- Mastodon -------------------------------------------------------------------------------------------------


def status(n: int, **extra: object) -> dict[str, object]:
    return {
        "id": str(n),
        "uri": f"https://mastodon.example/users/u{n % 7}/statuses/{n}",
        "url": f"https://mastodon.example/@u{n % 7}/{n}",
        "created_at": (NOW - timedelta(minutes=300 - n)).isoformat().replace("+00:00", "Z"),
        "content": f"<p>#NorthwindFail charged twice, post {n} &amp; counting</p>",
        "spoiler_text": "",
        "language": "en",
        "account": {
            "acct": f"u{n % 7}@mastodon.example",
            "display_name": f"User {n % 7}",
            "followers_count": 100 * n,
        },
        **extra,
    }


class FakeMastodon:
    """The tag timeline as the documentation describes it: newest first, `limit` ≤ 40, `min_id` pages forward."""

    def __init__(self, count: int) -> None:
        self.statuses = [status(n) for n in range(1, count + 1)]
        self.remaining: list[int] = []

    def __call__(self, seen: Seen) -> Answer:
        limit = min(int(seen.query.get("limit", ["20"])[0]), 40)
        if "min_id" in seen.query:
            after = int(seen.query["min_id"][0])
            page = [s for s in self.statuses if int(str(s["id"])) > after][:limit]
        else:
            page = self.statuses[-limit:]
        headers = {"Content-Type": "application/json", "X-RateLimit-Limit": "300"}
        if self.remaining:
            headers["X-RateLimit-Remaining"] = str(self.remaining.pop(0))
            headers["X-RateLimit-Reset"] = (timezone.now() + timedelta(minutes=4)).isoformat()
        return Answer(200, json.dumps(list(reversed(page))).encode(), headers)


def test_mastodon_catches_up_with_min_id_without_gaps_and_records_the_request_shapes():
    make_watch("#NorthwindFail")
    api = FakeMastodon(100)
    with fake_server() as server:
        server.route("/api/v1/timelines/tag/NorthwindFail", api)
        source = make_source(
            kind=SourceKind.MASTODON, url=server.url, tag="NorthwindFail", access_token="t0ken"
        )
        assert poll_source(source.pk).stored == 40  # the first poll takes the newest page only
        source.refresh_from_db()
        assert source.cursor == "100"
        api.statuses += [status(n) for n in range(101, 201)]  # a busy hour: 100 more, 2.5 pages
        source.next_poll_at = timezone.now()
        source.save()
        assert poll_source(source.pk).stored == 100
        shapes = [(r.query.get("limit"), r.query.get("min_id")) for r in server.requests]
        auth = {r.headers.get("authorization") for r in server.requests}
    assert shapes == [
        (["40"], None),
        (["40"], ["100"]),
        (["40"], ["140"]),
        (["40"], ["180"]),
        (["40"], ["200"]),
    ]
    assert auth == {"Bearer t0ken"}
    ids = sorted(int(m.external_id.rsplit("/", 1)[1]) for m in Mention.objects.all())
    assert ids == list(range(61, 201))  # nothing skipped, nothing twice
    m = Mention.objects.get(external_id__endswith="/statuses/150")
    assert m.text == "#NorthwindFail charged twice, post 150 & counting"  # HTML stripped, entities decoded
    assert (m.author_handle, m.author_reach, m.platform, m.language) == (
        "@u3@mastodon.example",
        15000,
        "mastodon",
        "en",
    )


def test_mastodon_stops_at_the_rate_limit_and_resumes_where_it_stopped():
    api = FakeMastodon(40)
    with fake_server() as server:
        server.route("/api/v1/timelines/tag/NorthwindFail", api)
        source = make_source(kind=SourceKind.MASTODON, url=server.url, tag="NorthwindFail")
        poll_source(source.pk)
        api.statuses += [status(n) for n in range(41, 141)]
        api.remaining = [5, 0]  # the second page says: that was the last request for now
        source.refresh_from_db()
        source.next_poll_at = timezone.now()
        source.save()
        report = poll_source(source.pk)
        source.refresh_from_db()
        assert report.stored == 80
        assert source.cursor == "120"
        assert timedelta(minutes=3) < source.next_poll_at - timezone.now() < timedelta(minutes=6)
        source.next_poll_at = timezone.now()
        source.save()
        assert poll_source(source.pk).stored == 20
    assert Mention.objects.count() == 140


def test_a_boost_counts_as_the_status_it_boosts():
    api = FakeMastodon(3)
    api.statuses.append({**status(4), "uri": "https://x.example/boost/4", "reblog": status(2)})
    with fake_server() as server:
        server.route("/api/v1/timelines/tag/NorthwindFail", api)
        source = make_source(kind=SourceKind.MASTODON, url=server.url, tag="NorthwindFail")
        report = poll_source(source.pk)
    assert report.stored == 3  # the boost of status 2 is status 2
    assert Mention.objects.filter(external_id__endswith="/statuses/2").count() == 1


def test_mastodon_search_needs_a_token(manager):
    fields = SourceFields(
        name="Search",
        kind=SourceKind.MASTODON,
        platform="mastodon",
        url="https://mastodon.social",
        query="Northwind",
    )
    with pytest.raises(ListeningError, match="access token"):
        source_save(actor=manager, fields=fields)


# --- CSV ------------------------------------------------------------------------------------------------------

BRAND24 = (
    "\ufeffID;Date;Hrs;Text;Source;Author;Followers Count;Sentiment\n"
    "b-1;2026-11-30;10:15;Northwind charged me twice;https://x.com/a/status/1;@anna;12 400;-1\n"
    "b-2;2026-11-30;10:20;Great refund service from Northwind;https://x.com/b/status/2;@ben;1,2k;1\n"
    "b-3;2026-11-30;10:25;Northwind statement is out;https://x.com/c/status/3;@cara;980;0\n"
)


def test_a_csv_export_is_mapped_previewed_and_imported_all_or_nothing(manager):
    make_watch("Northwind")
    source = make_source(kind=SourceKind.CSV, platform=MentionPlatform.OTHER)
    imp = csv_import.csv_upload(
        source=source, actor=manager, filename="brand24.csv", data=BRAND24.encode(), time_zone="Europe/Warsaw"
    )
    assert imp.delimiter == ";"
    assert imp.mapping == {
        "text": "Text",
        "published_at": "Date",
        "published_time": "Hrs",
        "external_id": "ID",
        "url": "Source",
        "author": "Author",
        "reach": "Followers Count",
        "sentiment": "Sentiment",
    }
    rows = csv_import.preview(imp, imp.mapping)
    assert [r.record.author_reach for r in rows if r.record] == [12400, 1200, 980]
    assert rows[0].record is not None
    assert rows[0].record.published_at == datetime(2026, 11, 30, 9, 15, tzinfo=UTC)  # 10:15 in Warsaw
    assert Mention.objects.count() == 0  # nothing before the confirmation
    result = csv_import.csv_confirm(imp=imp, actor=manager, mapping=imp.mapping)
    assert (result.stored, result.duplicates) == (3, 0)
    assert dict(Mention.objects.values_list("external_id", "sentiment")) == {
        "b-1": "negative",
        "b-2": "positive",
        "b-3": "neutral",
    }
    again = csv_import.csv_upload(
        source=source, actor=manager, filename="brand24.csv", data=BRAND24.encode(), time_zone="UTC"
    )
    assert csv_import.csv_confirm(imp=again, actor=manager, mapping=again.mapping).duplicates == 3


def test_a_bad_csv_row_names_its_line_and_column_and_stores_nothing(manager):
    source = make_source(kind=SourceKind.CSV)
    data = (
        BRAND24
        + "b-4;2026-13-45;10:30;Northwind again;https://x.com/d/status/4;@dan;5;0\nb-5;2026-11-30;10:35;x;javascript:alert(1);@eve;5;7\n"
    )
    imp = csv_import.csv_upload(
        source=source, actor=manager, filename="bad.csv", data=data.encode(), time_zone="UTC"
    )
    before = snapshot(TABLES)
    with pytest.raises(IngestError) as caught:
        csv_import.csv_confirm(imp=imp, actor=manager, mapping=imp.mapping)
    message = str(caught.value)
    assert "line 5: column “Date”: date “2026-13-45 10:30” is not a date" in message
    assert "line 6: column “Source”: link “javascript:alert(1)” is not an http(s) address" in message
    assert snapshot(TABLES) == before
    imp.refresh_from_db()
    assert imp.state == CsvImport.State.PREVIEW
    assert "line 5" in imp.error


def test_a_csv_mapping_without_text_or_date_is_refused(manager):
    source = make_source(kind=SourceKind.CSV)
    imp = csv_import.csv_upload(
        source=source, actor=manager, filename="x.csv", data=BRAND24.encode(), time_zone="UTC"
    )
    with pytest.raises(ListeningError, match="Choose the column for: Date"):
        csv_import.csv_confirm(imp=imp, actor=manager, mapping={"text": "Text"})
    assert Mention.objects.count() == 0
