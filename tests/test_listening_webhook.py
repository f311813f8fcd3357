"""The signed webhook over real HTTP (Django's threaded WSGI live server, like gunicorn a WSGI server that hands
the view the body as a stream): a listening tool's sender signs 1,000-mention batches; bad signatures, stale
timestamps, malformed items and oversized bodies are refused and store nothing; repeats store nothing twice,
also when six copies of a batch arrive at once."""

from __future__ import annotations

import codecs
import http.client
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from incidents.listening.models import Mention, MentionRollup, Source, SourceKind
from incidents.listening.sources.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tests.factories_listening import make_source, make_watch, payload_item
from tests.helpers import snapshot

pytestmark = pytest.mark.django_db(transaction=True)
TABLES = ["listening_mention", "listening_mentionrollup", "listening_source"]


class Sender:
    """What Brand24/Zapier would do: sign timestamp.body with the source's secret and POST it."""

    def __init__(self, base: str, source: Source) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path = reverse("listening:hook", args=[source.code])
        self.secret = source.secret

    def post(
        self,
        body: bytes,
        *,
        stamp: int | None = None,
        secret: str | None = None,
        signature: str | None = None,
    ):
        stamp = int(time.time()) if stamp is None else stamp
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: signature
            if signature is not None
            else sign(secret or self.secret, str(stamp), body),
        }
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request("POST", self.path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            conn.close()


def batch(n: int, start: int = 0) -> bytes:
    return json.dumps({"mentions": [payload_item(i) for i in range(start, start + n)]}).encode()


@pytest.fixture
def hook(live_server, manager):
    make_watch("Northwind")
    source = make_source(kind=SourceKind.WEBHOOK, owner=manager)
    return source, Sender(live_server.url, source)


def test_a_signed_batch_of_1000_is_stored_once(hook):
    source, sender = hook
    body = batch(1000)
    assert sender.post(body) == (200, {"received": 1000, "stored": 1000, "duplicates": 0})
    assert sender.post(body) == (
        200,
        {"received": 1000, "stored": 0, "duplicates": 1000},
    )  # a repeated delivery
    assert Mention.objects.filter(source=source).count() == 1000
    assert sum(MentionRollup.objects.values_list("total", flat=True)) == 1000


def test_a_body_that_starts_with_a_byte_order_mark_is_read(hook):
    _source, sender = hook
    assert sender.post(codecs.BOM_UTF8 + batch(2))[1]["stored"] == 2


def test_bad_signatures_and_stale_timestamps_are_401_and_store_nothing(hook):
    source, sender = hook
    body = batch(5)
    before = snapshot(TABLES)
    assert sender.post(body, secret="not-the-secret")[0] == 401
    assert sender.post(body, signature="sha256=" + "0" * 64)[0] == 401
    assert sender.post(body, signature="")[0] == 401
    status, answer = sender.post(body, stamp=int(time.time()) - 301)
    assert status == 401
    assert "seconds off" in answer["error"]
    assert sender.post(body, stamp=int(time.time()) + 400)[0] == 401
    # A body altered after signing (same timestamp and signature) does not verify either.
    stamp = int(time.time())
    signature = sign(source.secret, str(stamp), body)
    assert sender.post(body.replace(b"charged", b"refunded"), stamp=stamp, signature=signature)[0] == 401
    assert snapshot(TABLES) == before


def test_after_a_rotation_the_previous_secret_still_works_for_a_day(hook, manager):
    from incidents.listening.services.watches import source_rotate_secret

    source, sender = hook
    old = source.secret
    rotated = source_rotate_secret(actor=manager, source=source)
    assert sender.post(batch(1), secret=old)[0] == 200
    assert sender.post(batch(1, start=1), secret=rotated.secret)[0] == 200
    assert rotated.secret_rotated_at is not None
    Source.objects.filter(pk=source.pk).update(secret_rotated_at=rotated.secret_rotated_at.replace(year=2020))
    assert sender.post(batch(1, start=2), secret=old)[0] == 401


def test_a_malformed_item_is_named_and_nothing_of_the_batch_is_stored(hook):
    _source, sender = hook
    items = [payload_item(i) for i in range(10)]
    items[6]["published_at"] = "yesterday-ish"
    items[8]["reach"] = "lots"
    before = snapshot(TABLES)
    status, answer = sender.post(json.dumps({"mentions": items}).encode())
    assert status == 400
    assert "item 7 (id “bw-6”): date “yesterday-ish” is not a date" in answer["error"]
    assert "item 9 (id “bw-8”): reach “lots” is not a number" in answer["error"]
    assert snapshot(TABLES) == before
    assert sender.post(b"{not json")[0] == 400
    # A lone UTF-16 surrogate is valid JSON text that PostgreSQL cannot store: refused as the body, not a 500.
    lone = json.dumps({"mentions": [payload_item(1, text="Northwind \ud800 broke")]}).encode()
    status, answer = sender.post(lone)
    assert status == 400
    assert "not JSON" in answer["error"]
    assert sender.post(batch(1001))[0] == 400  # more than 1,000 in one delivery
    assert snapshot(TABLES) == before


def test_a_paused_or_unknown_source_stores_nothing(hook, live_server):
    source, sender = hook
    Source.objects.filter(pk=source.pk).update(is_active=False)
    assert sender.post(batch(2))[0] == 403
    sender.path = reverse("listening:hook", args=["00000000-0000-0000-0000-000000000000"])
    assert sender.post(batch(2))[0] == 404
    assert Mention.objects.count() == 0


def _raw(sender: Sender, head: bytes, body_part: bytes) -> bytes:
    with socket.create_connection((sender.host, sender.port), timeout=10) as sock:
        sock.sendall(head + body_part)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def test_a_10_mb_body_is_refused_before_it_is_read(hook):
    _source, sender = hook
    stamp = str(int(time.time()))
    head = (
        f"POST {sender.path} HTTP/1.1\r\nHost: {sender.host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {10 * 1024 * 1024}\r\n{TIMESTAMP_HEADER}: {stamp}\r\n{SIGNATURE_HEADER}: sha256=00\r\n\r\n"
    ).encode()
    # Only 64 kB of the announced 10 MB ever leave: the answer must come without the rest being read.
    answer = _raw(sender, head, b"x" * 65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert Mention.objects.count() == 0


def test_a_body_without_a_length_is_refused(hook):
    _source, sender = hook
    head = (
        f"POST {sender.path} HTTP/1.1\r\nHost: {sender.host}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    answer = _raw(sender, head, b"5\r\nhello\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 411"), answer[:200]
    assert Mention.objects.count() == 0


def test_six_concurrent_deliveries_of_one_batch_over_http_store_it_once(hook):
    source, sender = hook
    body = batch(500)
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _i: sender.post(body), range(6)))
    assert [status for status, _answer in results] == [200] * 6
    assert sum(answer["stored"] for _status, answer in results) == 500
    assert sum(answer["duplicates"] for _status, answer in results) == 2500
    assert Mention.objects.filter(source=source).count() == 500
    assert sum(MentionRollup.objects.values_list("total", flat=True)) == 500
    source.refresh_from_db()
    assert source.total_stored == 500
