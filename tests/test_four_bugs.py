"""The four bugs of issue #16, each with a check that nothing changed where the input was refused: a NUL byte
in a search or form (clear 400, not 500), the Markdown export writing user text raw, PDFs with active content
accepted as evidence, and a reused idempotency key with another text silently dropping it."""

from __future__ import annotations

import re
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from incidents import services
from incidents.models import TimelineEntry
from incidents.reviews import exports
from incidents.uploads import UploadRejected, clean_upload, pdf_active_content
from tests.helpers import snapshot

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
TABLES = ["incidents_incident", "incidents_timelineentry", "incidents_evidence"]


def url(incident, name):
    return reverse(f"incidents:{name}", args=[incident.code])


# --- NUL bytes ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["\x00", "refund\x00", "a\x00b"])
def test_a_nul_byte_in_the_search_is_a_clear_400(manager_client, query):
    response = manager_client.get(reverse("incidents:past"), {"q": query})
    assert response.status_code == 400
    assert "NUL character" in response.content.decode()


def test_a_nul_byte_in_a_post_is_a_clear_400_and_stores_nothing(manager_client, incident):
    before = snapshot(TABLES)
    response = manager_client.post(
        url(incident, "timeline-post"), {"kind": "note", "body": "bad\x00text", "idempotency_key": "n1"}, **HX
    )
    assert response.status_code == 400
    assert snapshot(TABLES) == before


# --- Markdown export ------------------------------------------------------------------------------------------

HOSTILE = (
    "<script>alert(1)</script> <img src=x onerror=alert(2)> [click](javascript:alert(3)) "
    "[two](JaVaScRiPt :alert(4)) <javascript:alert(5)> [img](data:text/html;base64,PHNjcmlwdD4=)"
)


def test_the_markdown_export_escapes_html_and_defuses_script_links(incident, manager):
    services.timeline_post(incident=incident, actor=manager, kind="note", body=HOSTILE)
    text = exports.to_markdown(exports.collect(incident))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script" not in text
    assert "<img" not in text
    assert not re.search(r"(javascript|vbscript|data)\s*:", text, re.IGNORECASE)
    assert "alert(3)" in text  # the words stay readable; only their power is gone


# --- PDFs with active content -----------------------------------------------------------------------------------


def pdf(*objects: bytes) -> bytes:
    return b"%PDF-1.7\n" + b"\n".join(objects) + b"\ntrailer << /Root 1 0 R >>\n%%EOF\n"


CATALOG = b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj"
ACTIVE = {
    "open-action": pdf(b"1 0 obj << /Type /Catalog /OpenAction 3 0 R >> endobj"),
    "javascript": pdf(CATALOG, b"3 0 obj << /S /JavaScript /JS (app.alert(1)) >> endobj"),
    "js-only": pdf(CATALOG, b"3 0 obj << /JS (app.alert(1)) >> endobj"),
    "launch": pdf(CATALOG, b"3 0 obj << /S /Launch /F (calc.exe) >> endobj"),
    "additional-actions": pdf(CATALOG, b"4 0 obj << /Type /Page /AA << /O 3 0 R >> >> endobj"),
    "name-escaped": pdf(CATALOG, b"3 0 obj << /S /J#61vaScript /J#53 (x) >> endobj"),
    "in-object-stream": pdf(
        CATALOG,
        b"5 0 obj << /Type /ObjStm /Filter /FlateDecode >>\nstream\n"
        + zlib.compress(b"<< /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>")
        + b"\nendstream\nendobj",
    ),
}


@pytest.mark.parametrize("name", list(ACTIVE))
def test_a_pdf_with_active_content_is_refused(name):
    with pytest.raises(UploadRejected, match="active content"):
        clean_upload(SimpleUploadedFile("report.pdf", ACTIVE[name]))


def test_a_plain_pdf_is_accepted_even_when_its_text_mentions_json():
    plain = pdf(CATALOG, b"3 0 obj << /Type /Page /Contents 4 0 R /JSON 1 /AAX 2 >> endobj")
    assert pdf_active_content(plain) is None
    assert clean_upload(SimpleUploadedFile("report.pdf", plain)).content_type == "application/pdf"


def test_an_active_pdf_over_http_stores_nothing(manager_client, incident, settings):
    before = snapshot(TABLES)
    response = manager_client.post(
        url(incident, "timeline-post"),
        {
            "kind": "evidence",
            "body": "the letter they sent",
            "idempotency_key": "p1",
            "evidence": SimpleUploadedFile("letter.pdf", ACTIVE["javascript"]),
        },
        **HX,
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "active content (/JavaScript" in html
    assert "the letter they sent" in html
    assert snapshot(TABLES) == before
    media = settings.MEDIA_ROOT / "evidence"
    assert not media.exists() or not any(media.iterdir())


# --- a reused idempotency key -----------------------------------------------------------------------------------


def test_a_reused_key_with_another_text_is_409_and_keeps_the_text(manager_client, incident):
    first = {"kind": "note", "body": "Refunds start at 14:00", "idempotency_key": "same-key"}
    assert manager_client.post(url(incident, "timeline-post"), first, **HX).status_code == 200
    before = snapshot(TABLES)

    again = manager_client.post(url(incident, "timeline-post"), first, **HX)  # a retried POST: the same entry
    assert again.status_code == 200
    assert snapshot(TABLES) == before

    other = {**first, "body": "Refunds start at 15:00 instead"}
    response = manager_client.post(url(incident, "timeline-post"), other, **HX)
    html = response.content.decode()
    assert response.status_code == 409
    assert "Refunds start at 15:00 instead" in html
    assert "different text" in html
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert key is not None
    assert key.group(1) != "same-key"
    assert snapshot(TABLES) == before

    sent_again = manager_client.post(
        url(incident, "timeline-post"), {**other, "idempotency_key": key.group(1)}, **HX
    )
    assert sent_again.status_code == 200
    assert list(
        TimelineEntry.objects.filter(incident=incident, kind="note")
        .order_by("seq")
        .values_list("body", flat=True)
    ) == [
        "Refunds start at 14:00",
        "Refunds start at 15:00 instead",
    ]
