"""The signed webhook endpoint. No session, no CSRF token: the HMAC signature is the authentication.

Order matters: the size is checked from Content-Length before a byte of the body is read (a 10 MB body is
refused with 413 at once; a body without a length is refused with 411 rather than read to the end), then
the signature over the exact bytes (401, nothing stored), then the payload (400 naming the items at fault,
nothing stored), then one ingest transaction. Answers are JSON.

Served by the WSGI web process (gunicorn) in production: there the body is a stream the view reads itself.
(Under Django's ASGI handler the whole body is buffered before any view runs, so uvicorn is no place for it.)
"""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from incidents.listening.ingest import ingest
from incidents.listening.models import Source, SourceKind
from incidents.listening.records import IngestError
from incidents.listening.sources.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Refused,
    parse_payload,
    verify,
)


def _refuse(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, source: UUID) -> JsonResponse:
    found = Source.objects.filter(code=source, kind=SourceKind.WEBHOOK).first()
    if found is None:
        return _refuse(404, _("No such webhook."))
    if not found.is_active:
        return _refuse(403, _("This source is paused; nothing was stored."))
    raw_length = request.META.get("CONTENT_LENGTH", "")
    if not raw_length.isdigit():
        return _refuse(411, _("Send a Content-Length."))
    length, limit = int(raw_length), settings.LISTENING_WEBHOOK_MAX_BYTES
    if length > limit:
        return _refuse(
            413, _("The body is larger than %(mb).0f MB; send smaller batches.") % {"mb": limit / 1024 / 1024}
        )
    body = request.read(length)
    if len(body) != length:
        return _refuse(400, _("The body ended before its Content-Length."))
    try:
        verify(
            found,
            timestamp=request.headers.get(TIMESTAMP_HEADER, ""),
            signature=request.headers.get(SIGNATURE_HEADER, ""),
            body=body,
        )
    except Refused as exc:
        return _refuse(exc.status, exc.message)
    try:
        records = parse_payload(body, found)
    except IngestError as exc:
        return JsonResponse({"error": str(exc), "problems": exc.problems[:50]}, status=400)
    result = ingest(source=found, records=records)
    return JsonResponse(
        {"received": result.received, "stored": result.stored, "duplicates": result.duplicates}
    )
