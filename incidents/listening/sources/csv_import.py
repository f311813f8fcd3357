"""CSV exports of listening tools: upload, map the columns (a preview shows the result), then import.

Nothing is stored before the mapping is confirmed, and then all rows or none: a row that cannot be read is
named with its line and column. Exports are often localised: a UTF-8 BOM, UTF-16, semicolons, decimal
commas, dates without a zone (the uploader says which zone the export uses).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from incidents.listening.ingest import IngestResult, ingest
from incidents.listening.models import CsvImport, Source, SourceKind
from incidents.listening.records import (
    FieldProblem,
    IngestError,
    MentionRecord,
    build_records,
    clean_text,
    external_key,
    parse_language,
    parse_platform,
    parse_reach,
    parse_sentiment,
    parse_url,
    parse_when,
)
from incidents.listening.services import ListeningError, require_manager
from incidents.models import User

MAX_ROWS = 100_000
PREVIEW_ROWS = 8

# What a column can be, in the order the mapping form shows them.
FIELDS: list[tuple[str, Any]] = [
    ("text", gettext_lazy("Text (required)")),
    ("published_at", gettext_lazy("Date or date and time (required)")),
    ("published_time", gettext_lazy("Time, when in its own column")),
    ("external_id", gettext_lazy("Id (else the link is used)")),
    ("url", gettext_lazy("Link")),
    ("author", gettext_lazy("Author")),
    ("reach", gettext_lazy("Reach or followers")),
    ("sentiment", gettext_lazy("Sentiment")),
    ("language", gettext_lazy("Language")),
    ("platform", gettext_lazy("Platform")),
]
REQUIRED = ("text", "published_at")

# Header names of common exports (Brand24, Mention, Talkwalker, Meltwater), lower case.
_KNOWN = {
    "text": ("text", "content", "mention", "snippet", "message", "title", "body"),
    "published_at": (
        "date",
        "published",
        "published_at",
        "published date",
        "created_at",
        "datetime",
        "time published",
    ),
    "published_time": ("hrs", "hour", "time"),
    "external_id": ("id", "mention id", "external_id", "document id", "post id"),
    "url": ("url", "link", "source url", "original_url", "source"),
    "author": ("author", "username", "handle", "author handle", "profile"),
    "reach": ("followers count", "followers", "reach", "social media reach", "author reach", "audience"),
    "sentiment": ("sentiment", "tone", "sentiment label"),
    "language": ("language", "lang"),
    "platform": ("platform", "source type", "network", "media type", "channel"),
}


def decode(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ListeningError(
            _("The file is not UTF-8 or UTF-16 text; export it again as CSV (UTF-8).")
        ) from None


def _dialect(text: str) -> str:
    try:
        return csv.Sniffer().sniff(text[:65536], delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def propose_mapping(headers: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    lowered = {h.strip().lower(): h for h in headers}
    for fieldname, names in _KNOWN.items():
        found = next((lowered[n] for n in names if n in lowered and lowered[n] not in mapping.values()), None)
        if found is not None:
            mapping[fieldname] = found
    return mapping


@transaction.atomic
def csv_upload(*, source: Source, actor: User, filename: str, data: bytes, time_zone: str) -> CsvImport:
    """Keep the file for the mapping step (nothing is imported yet)."""
    require_manager(actor)
    if source.kind != SourceKind.CSV:
        raise ListeningError(_("CSV files are imported into a CSV source."))
    if len(data) > settings.LISTENING_CSV_MAX_BYTES:
        raise ListeningError(
            _("The file is larger than %(mb)d MB; split the export.")
            % {"mb": settings.LISTENING_CSV_MAX_BYTES // 1_000_000}
        )
    _zone(time_zone)
    text = decode(data).replace("\x00", "")
    delimiter = _dialect(text)
    try:
        headers = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    except csv.Error as exc:
        raise ListeningError(_("The file is not readable as CSV: %(why)s") % {"why": exc}) from None
    headers = [h.strip() for h in headers]
    if len([h for h in headers if h]) < 2:
        raise ListeningError(_("The first line should name the columns (at least text and date)."))
    return CsvImport.objects.create(
        source=source,
        filename=filename[:200],
        text=text,
        delimiter=delimiter,
        headers=headers,
        mapping=propose_mapping(headers),
        time_zone=time_zone,
        uploaded_by=actor,
    )


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ListeningError(_("“%(zone)s” is not a time zone.") % {"zone": name}) from None


def _rows(imp: CsvImport) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(imp.text), delimiter=imp.delimiter, restval="")
    rows: list[dict[str, str]] = []
    try:
        for row in reader:
            if len(rows) >= MAX_ROWS:
                raise ListeningError(_("More than %(n)d rows; split the export.") % {"n": MAX_ROWS})
            if any((v or "").strip() for k, v in row.items() if k is not None):
                row["__line__"] = str(reader.line_num)
                rows.append(row)
    except csv.Error as exc:
        raise ListeningError(
            _("Line %(line)d is not readable as CSV: %(why)s") % {"line": reader.line_num, "why": exc}
        ) from None
    return rows


@dataclass(frozen=True)
class Mapped:
    line: str
    record: MentionRecord | None
    problem: str = ""


def check_mapping(imp: CsvImport, mapping: Mapping[str, str]) -> dict[str, str]:
    clean = {k: v for k, v in mapping.items() if k in dict(FIELDS) and v}
    unknown = [v for v in clean.values() if v not in imp.headers]
    if unknown:
        raise ListeningError(_("The file has no column “%(col)s”.") % {"col": unknown[0]})
    missing = [str(dict(FIELDS)[k]) for k in REQUIRED if k not in clean]
    if missing:
        raise ListeningError(_("Choose the column for: %(fields)s.") % {"fields": ", ".join(missing)})
    return clean


def _to_record(
    row: Mapping[str, str], mapping: Mapping[str, str], source: Source, zone: tzinfo
) -> MentionRecord:
    def value(fieldname: str) -> str:
        column = mapping.get(fieldname)
        return (row.get(column) or "").strip() if column else ""

    def column(fieldname: str) -> str:
        return mapping.get(fieldname, fieldname)

    def guarded(fieldname: str, parse: Any) -> Any:
        try:
            return parse()
        except FieldProblem as exc:
            raise FieldProblem(
                _("column “%(col)s”: %(why)s") % {"col": column(fieldname), "why": exc}
            ) from None

    url = guarded("url", lambda: parse_url(value("url")))
    text = clean_text(value("text"))
    if not text:
        raise FieldProblem(_("column “%(col)s” is empty") % {"col": column("text")})
    when_raw = " ".join(p for p in (value("published_at"), value("published_time")) if p)
    published = guarded("published_at", lambda: parse_when(when_raw, zone=zone))
    label, score = guarded("sentiment", lambda: parse_sentiment(value("sentiment")))
    raw_id = (
        value("external_id")
        or url
        or "row:" + hashlib.sha256(f"{text}|{when_raw}|{value('author')}".encode()).hexdigest()
    )
    return MentionRecord(
        external_id=external_key(raw_id),
        text=text,
        published_at=published,
        platform=parse_platform(value("platform"), url, source.platform),
        url=url,
        author_handle=value("author")[:200],
        author_reach=guarded("reach", lambda: parse_reach(value("reach"))),
        language=parse_language(value("language")),
        sentiment=label,
        sentiment_score=score,
    )


def preview(imp: CsvImport, mapping: Mapping[str, str], limit: int = PREVIEW_ROWS) -> list[Mapped]:
    zone = _zone(imp.time_zone)
    shown: list[Mapped] = []
    for row in _rows(imp)[:limit]:
        try:
            shown.append(Mapped(row["__line__"], _to_record(row, mapping, imp.source, zone)))
        except FieldProblem as exc:
            shown.append(Mapped(row["__line__"], None, str(exc)))
    return shown


def csv_confirm(*, imp: CsvImport, actor: User, mapping: Mapping[str, str]) -> IngestResult:
    """Import every row with this mapping, or none (the error names the lines and columns at fault)."""
    require_manager(actor)
    try:
        with transaction.atomic():
            locked = CsvImport.objects.select_for_update().select_related("source").get(pk=imp.pk)
            if locked.state == CsvImport.State.IMPORTED:
                raise ListeningError(_("This file was already imported."))
            clean = check_mapping(locked, mapping)
            zone = _zone(locked.time_zone)
            records = build_records(
                _rows(locked),
                to_record=lambda row: _to_record(row, clean, locked.source, zone),
                label=lambda n, row: (
                    _("line %(line)s") % {"line": row.get("__line__", n) if isinstance(row, Mapping) else n}
                ),
            )
            result = ingest(source=locked.source, records=records)
            locked.mapping, locked.error, locked.state = clean, "", CsvImport.State.IMPORTED
            locked.stored, locked.duplicates, locked.imported_at = (
                result.stored,
                result.duplicates,
                timezone.now(),
            )
            locked.save(update_fields=["mapping", "error", "state", "stored", "duplicates", "imported_at"])
            return result
    except (IngestError, ListeningError) as exc:
        # Nothing was imported; keep the person's mapping and the reason with the upload.
        CsvImport.objects.filter(pk=imp.pk, state=CsvImport.State.PREVIEW).update(
            mapping={k: v for k, v in mapping.items() if v}, error=str(exc)
        )
        raise
