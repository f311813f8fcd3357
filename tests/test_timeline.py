"""The append-only timeline: writing, reading, corrections, pins, uploads, XSS, idempotency."""

from __future__ import annotations

import io
import struct
import threading
import zlib
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from incidents import services
from incidents.models import Evidence, Incident, TimelineEntry
from incidents.uploads import UploadRejected, clean_upload
from tests.factories import IncidentFactory, UserFactory, give_role
from tests.helpers import race, snapshot

HX = {"HTTP_HX_REQUEST": "true"}
TABLES = ["incidents_incident", "incidents_timelineentry", "incidents_evidence"]

XSS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1)) javascript:alert(1)",
    '<svg onload="alert(1)"><circle r="9"/></svg>',
    '<div hx-post="/incidents/declare/" hx-trigger="load">x</div>',
    '<div data-hx-get="/" data-hx-trigger="load">y</div>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    '"><a href="javascript:alert(1)">link</a>',
]


def url(incident, name, *args):
    return reverse(f"incidents:{name}", args=[incident.code, *args])


def png_bytes(w=4, h=3, extra=b""):
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue() + extra


def fake_huge_png(w: int, h: int):
    """A tiny file whose header claims w x h pixels (a decompression/pixel bomb)."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


# --- append-only and seq ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_entries_get_consecutive_seqs_and_the_incident_tracks_the_last(incident, manager):
    start = Incident.objects.get(pk=incident.pk).timeline_seq
    entries = [
        services.timeline_post(incident=incident, actor=manager, kind="note", body=f"n{i}") for i in range(3)
    ]
    assert [e.seq for e in entries] == [start + 1, start + 2, start + 3]
    assert Incident.objects.get(pk=incident.pk).timeline_seq == start + 3


@pytest.mark.django_db
def test_updates_and_deletes_are_refused_by_the_database(incident, manager):
    entry = services.timeline_post(incident=incident, actor=manager, kind="decision", body="Pause all ads")
    attempts = [
        lambda: TimelineEntry.objects.filter(pk=entry.pk).update(body="Never mind"),
        lambda: TimelineEntry.objects.filter(pk=entry.pk).delete(),
        lambda: connection.cursor().execute(
            "UPDATE incidents_timelineentry SET body='x' WHERE id=%s", [entry.pk]
        ),
        lambda: connection.cursor().execute("DELETE FROM incidents_timelineentry WHERE id=%s", [entry.pk]),
    ]
    for attempt in attempts:
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            attempt()
    entry.refresh_from_db()
    assert entry.body == "Pause all ads"


@pytest.mark.django_db
def test_a_correction_is_a_new_entry_and_the_original_stays(manager_client, incident, manager):
    original = services.timeline_post(
        incident=incident, actor=manager, kind="external", body="We said 2,000 affected"
    )
    response = manager_client.post(
        url(incident, "timeline-correct", original.seq), {"body": "It was 20,000"}, **HX
    )
    assert response.status_code == 200
    correction = TimelineEntry.objects.get(incident=incident, kind="correction")
    assert correction.target == original
    assert f'data-target="{original.seq}"' in correction.html
    original.refresh_from_db()
    assert original.body == "We said 2,000 affected"
    page = manager_client.get(url(incident, "room")).content.decode()
    assert "We said 2,000 affected" in page
    assert "It was 20,000" in page


@pytest.mark.django_db
def test_retraction_then_no_more_corrections(incident, manager):
    entry = services.timeline_post(incident=incident, actor=manager, kind="note", body="CEO resigned")
    services.timeline_correct(
        incident=incident, actor=manager, seq=entry.seq, body="False report", retract=True
    )
    before = snapshot(TABLES)
    with pytest.raises(services.TimelineError, match="already been retracted"):
        services.timeline_correct(incident=incident, actor=manager, seq=entry.seq, body="again")
    with pytest.raises(services.TimelineError):
        services.timeline_correct(incident=incident, actor=manager, seq=9999, body="nope")
    assert snapshot(TABLES) == before


@pytest.mark.django_db
def test_system_entries_cannot_be_corrected(incident, manager):
    system = TimelineEntry.objects.filter(incident=incident).first() or services.timeline_record(
        incident=incident, kind="status", actor=manager, text="Status: x"
    )
    with pytest.raises(services.TimelineError):
        services.timeline_correct(incident=incident, actor=manager, seq=system.seq, body="no")


@pytest.mark.django_db
def test_pin_and_unpin_are_recorded_and_drive_key_events(manager_client, incident, manager):
    key = services.timeline_post(incident=incident, actor=manager, kind="decision", body="Recall batch 23-41")
    services.timeline_post(incident=incident, actor=manager, kind="note", body="Coffee")
    assert (
        manager_client.post(url(incident, "timeline-pin", key.seq), {"pinned": "1"}, **HX).status_code == 204
    )
    assert (
        manager_client.post(url(incident, "timeline-pin", key.seq), {"pinned": "1"}, **HX).status_code == 409
    )
    fragment = manager_client.get(url(incident, "timeline"), {"key": "1"}, **HX).content.decode()
    assert "Recall batch" in fragment
    assert "Coffee" not in fragment
    assert (
        manager_client.post(url(incident, "timeline-pin", key.seq), {"pinned": "0"}, **HX).status_code == 204
    )
    assert services.pinned_seqs(incident) == set()
    assert list(TimelineEntry.objects.filter(target=key).values_list("kind", flat=True)) == ["unpin", "pin"]


# --- composer ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_post_over_htmx_returns_a_fresh_composer_and_the_entry(manager_client, incident):
    response = manager_client.post(
        url(incident, "timeline-post"),
        {"kind": "decision", "body": "Hold the ad spend", "idempotency_key": "k1"},
        **HX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<form id="composer"')
    assert 'value="k1"' not in html  # a new key for the next entry
    assert 'hx-swap-oob="afterbegin:#timeline-entries"' in html
    assert "Hold the ad spend" in html


@pytest.mark.django_db
def test_a_retried_post_with_the_same_key_writes_once(manager_client, incident):
    data = {"kind": "note", "body": "Journalist from the Times called", "idempotency_key": "same-key"}
    for _ in range(3):
        assert manager_client.post(url(incident, "timeline-post"), data, **HX).status_code == 200
    assert TimelineEntry.objects.filter(incident=incident, kind="note").count() == 1


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "note", "body": "   ", "idempotency_key": "a"},
        {"kind": "status", "body": "sneaky system entry", "idempotency_key": "b"},
        {"kind": "note", "body": "x" * 5001, "idempotency_key": "c"},
        {"kind": "note", "body": "future", "occurred_at": "2999-01-01T10:00", "idempotency_key": "d"},
        {"kind": "note", "body": "no key"},
    ],
)
@pytest.mark.django_db
def test_malformed_posts_are_422_and_write_nothing(manager_client, incident, data):
    before = snapshot(TABLES)
    response = manager_client.post(url(incident, "timeline-post"), data, **HX)
    assert response.status_code == 422
    assert "inline-error" in response.content.decode()
    assert snapshot(TABLES) == before


@pytest.mark.django_db
def test_observers_and_outsiders_cannot_post(client, incident, manager):
    observer = UserFactory.create()
    give_role(incident, observer, "observer")
    before = snapshot(TABLES)
    client.force_login(observer)
    assert (
        client.post(
            url(incident, "timeline-post"), {"kind": "note", "body": "x", "idempotency_key": "o"}
        ).status_code
        == 403
    )
    client.force_login(UserFactory.create())
    assert (
        client.post(
            url(incident, "timeline-post"), {"kind": "note", "body": "x", "idempotency_key": "p"}
        ).status_code
        == 403
    )
    assert snapshot(TABLES) == before


@pytest.mark.django_db
def test_backdated_entries_are_marked(incident, manager):
    entry = services.timeline_post(
        incident=incident,
        actor=manager,
        kind="external",
        body="Tweet went out",
        occurred_at=timezone.now() - timedelta(minutes=9),
    )
    assert entry.is_backdated
    assert "backdated" in entry.html


# --- output safety -------------------------------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, attrs))


@pytest.mark.parametrize("payload", XSS)
@pytest.mark.django_db
def test_xss_corpus_is_inert_in_stored_html(incident, manager, payload):
    entry = services.timeline_post(incident=incident, actor=manager, kind="note", body=payload)
    body = entry.html.split('class="entry-body" hx-disable>', 1)[1].split("</div>", 1)[0]
    parser = _Tags()
    parser.feed(body)
    for tag, attrs in parser.found:  # only what the allowlist lets through: links and line breaks
        assert tag in {"a", "br"}, (tag, body)
        for name, value in attrs:
            assert name in {"href", "rel"}, (name, body)
            if name == "href":
                assert (value or "").startswith(("https://", "http://", "mailto:")), body


@pytest.mark.django_db
def test_links_are_kept_safe(incident, manager):
    entry = services.timeline_post(
        incident=incident, actor=manager, kind="evidence", body="See https://x.com/someone/status/1"
    )
    assert 'href="https://x.com/someone/status/1"' in entry.html
    assert 'rel="noopener noreferrer nofollow"' in entry.html


# --- uploads ----------------------------------------------------------------------------------------------


def test_png_is_reencoded_and_a_trailing_html_payload_is_gone():
    polyglot = png_bytes(extra=b"<html><script>alert(1)</script></html>")
    clean = clean_upload(SimpleUploadedFile("shot.png", polyglot))
    assert clean.content_type == "image/png"
    assert b"<script" not in clean.data
    assert b"<html" not in clean.data
    assert clean.stored_name.endswith(".png")
    assert "shot" not in clean.stored_name
    assert (clean.width, clean.height) == (4, 3)


def test_jpeg_metadata_is_stripped():
    from PIL import Image as PILImage

    img = PILImage.new("RGB", (8, 8), (1, 2, 3))
    exif = PILImage.Exif()
    exif[0x010F] = "SecretPhone"  # Make
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif.tobytes())
    assert b"SecretPhone" in buf.getvalue()
    clean = clean_upload(SimpleUploadedFile("photo.jpg", buf.getvalue()))
    assert b"SecretPhone" not in clean.data


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("big.png", png_bytes() + b"\0" * (10 * 1024 * 1024), "larger than 10 MB"),
        ("report.png", b"%PDF-1.4\n%%EOF\n", "name says otherwise"),
        ("bomb.png", fake_huge_png(20_000, 20_000), "pixels"),
        ("page.html", b"<html><script>alert(1)</script></html>", "not a PNG"),
        ("vector.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "not a PNG"),
        ("broken.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "could not be read"),
        ("half.pdf", b"%PDF-1.4\nno end", "not a complete PDF"),
    ],
)
def test_rejected_uploads(name, data, message):
    with pytest.raises(UploadRejected, match=message):
        clean_upload(SimpleUploadedFile(name, data))


@pytest.mark.django_db
def test_rejected_upload_over_http_stores_nothing(manager_client, incident, settings):
    before = snapshot(TABLES)
    response = manager_client.post(
        url(incident, "timeline-post"),
        {
            "kind": "evidence",
            "body": "screenshot",
            "idempotency_key": "u1",
            "evidence": SimpleUploadedFile("fake.png", b"%PDF-1.4\n%%EOF\n"),
        },
        **HX,
    )
    assert response.status_code == 422
    assert "name says otherwise" in response.content.decode()
    assert snapshot(TABLES) == before
    media = settings.MEDIA_ROOT / "evidence"
    assert not media.exists() or not any(media.iterdir())


@pytest.mark.django_db
def test_evidence_is_served_as_an_attachment_to_the_team_only(client, manager, member):
    secret = IncidentFactory.create(declared_by=manager, is_restricted=True)
    client.force_login(manager)
    client.post(
        url(secret, "timeline-post"),
        {
            "kind": "evidence",
            "body": "the post",
            "idempotency_key": "e1",
            "evidence": SimpleUploadedFile("../../etc/screen<shot>.png", png_bytes()),
        },
    )
    item = Evidence.objects.get()
    response = client.get(url(secret, "evidence", item.code))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("attachment")
    assert "screenshot.png" in response["Content-Disposition"]
    assert ".." not in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert b"".join(response.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"
    client.force_login(member)
    assert client.get(url(secret, "evidence", item.code)).status_code == 404


# --- reading ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_keyset_paging_filters_and_jump_to_time(
    manager_client, incident, manager, django_assert_max_num_queries
):
    for i in range(120):
        services.timeline_post(
            incident=incident,
            actor=manager,
            kind="decision" if i % 10 == 0 else "note",
            body=f"entry {i:03d}",
        )
    page = manager_client.get(url(incident, "timeline"), **HX).content.decode()
    assert "entry 119" in page
    assert "entry 070" in page
    assert "entry 069" not in page
    cursor = TimelineEntry.objects.get(incident=incident, body="entry 070").seq
    with django_assert_max_num_queries(5):
        older = manager_client.get(url(incident, "timeline"), {"before": cursor}, **HX).content.decode()
    assert "entry 069" in older
    assert "entry 070" not in older
    decisions = manager_client.get(url(incident, "timeline"), {"kind": "decision"}, **HX).content.decode()
    assert "entry 110" in decisions
    assert "entry 111" not in decisions
    target = TimelineEntry.objects.get(incident=incident, body="entry 030")
    from zoneinfo import ZoneInfo

    # Typed in the viewer's own zone (the manager works in Warsaw).
    local = timezone.localtime(target.recorded_at, ZoneInfo("Europe/Warsaw")).strftime("%Y-%m-%dT%H:%M:%S.%f")
    jumped = manager_client.get(url(incident, "timeline"), {"at": local}, **HX).content.decode()
    assert "entry 030" in jumped
    assert "entry 031" not in jumped


@pytest.mark.parametrize("count", [10, 300])
@pytest.mark.django_db
def test_room_query_count_does_not_grow_with_the_timeline(
    manager_client, incident, manager, django_assert_max_num_queries, count
):
    for i in range(count):
        services.timeline_post(incident=incident, actor=manager, kind="note", body=f"n{i}")
    with django_assert_max_num_queries(8):
        assert manager_client.get(url(incident, "room")).status_code == 200


@pytest.mark.django_db
def test_privileged_entries_are_for_the_team(client, incident, manager, member):
    services.timeline_post(
        incident=incident, actor=manager, kind="note", body="Counsel: do not admit fault", is_privileged=True
    )
    services.timeline_post(incident=incident, actor=manager, kind="note", body="Public facts only")
    client.force_login(member)  # can follow the open incident, is not on the team
    page = client.get(url(incident, "room")).content.decode()
    assert "Public facts only" in page
    assert "do not admit fault" not in page
    assert (
        "do not admit fault" not in client.get(url(incident, "timeline-poll"), {"after": 0}).content.decode()
    )
    client.force_login(manager)
    assert "Legal privilege" in client.get(url(incident, "room")).content.decode()


@pytest.mark.django_db
def test_poll_returns_entries_after_the_cursor_oldest_first_with_a_fresh_stream_url(
    manager_client, incident, manager
):
    a = services.timeline_post(incident=incident, actor=manager, kind="note", body="first")
    services.timeline_post(incident=incident, actor=manager, kind="note", body="second")
    services.timeline_post(incident=incident, actor=manager, kind="note", body="third")
    response = manager_client.get(url(incident, "timeline-poll"), {"after": a.seq})
    html = response.content.decode()
    assert "first" not in html
    assert html.index("second") < html.index("third")
    assert "/timeline?t=" in response["X-Stream-Url"]


# --- concurrency --------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_eight_writers_at_once_get_a_gapless_seq_in_commit_order():
    """Commit order is what a reader can observe: if seq k+1 ever committed before k, a reader (an SSE replay
    of `seq > cursor`) could see k+1 without k and skip k for good. A slowed insert keeps each writer inside
    its transaction for a while, and a reader polling meanwhile must only ever see a gapless prefix."""
    author = UserFactory.create()
    incident = IncidentFactory.create(declared_by=author)
    start = Incident.objects.get(pk=incident.pk).timeline_seq
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_slow_entry() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_sleep(0.02); RETURN NEW; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER test_slow_entry AFTER INSERT ON incidents_timelineentry "
            "FOR EACH ROW EXECUTE FUNCTION test_slow_entry()"
        )
    seen: list[list[int]] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                seen.append(
                    sorted(
                        TimelineEntry.objects.filter(incident=incident, seq__gt=start).values_list(
                            "seq", flat=True
                        )
                    )
                )
        finally:
            connection.close()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        results = race(
            8, lambda i: services.timeline_post(incident=incident, actor=author, kind="note", body=f"w{i}")
        )
    finally:
        done.set()
        reader.join()
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER test_slow_entry ON incidents_timelineentry")
            cursor.execute("DROP FUNCTION test_slow_entry()")
    assert not [r for r in results if isinstance(r, BaseException)], results
    seqs = sorted(
        TimelineEntry.objects.filter(incident=incident, seq__gt=start).values_list("seq", flat=True)
    )
    assert seqs == list(range(start + 1, start + 9))
    assert sorted({r.seq for r in results if isinstance(r, TimelineEntry)}) == seqs
    assert len({len(s) for s in seen}) >= 4, "the reader should have watched the writers commit one by one"
    assert all(s == list(range(start + 1, start + 1 + len(s))) for s in seen), [s for s in seen if s][:5]


@pytest.mark.django_db(transaction=True)
def test_six_identical_posts_at_once_write_one_entry():
    author = UserFactory.create()
    incident = IncidentFactory.create(declared_by=author)
    results = race(
        6,
        lambda i: services.timeline_post(
            incident=incident, actor=author, kind="note", body="dup", idempotency_key="double-click"
        ),
    )
    assert all(isinstance(r, TimelineEntry) for r in results), results
    assert len({r.pk for r in results if isinstance(r, TimelineEntry)}) == 1
    assert TimelineEntry.objects.filter(incident=incident, body="dup").count() == 1
