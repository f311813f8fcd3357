"""Evidence uploads: allowlisted types, checked by their bytes (not their names), images re-encoded.

Re-encoding rebuilds an image from its pixels: EXIF/GPS and text chunks are gone, and so is anything
smuggled after the image data (a PNG+HTML polyglot). PDFs cannot be rebuilt; one with active content
(scripts, actions run on opening, launching programs) is refused, and the rest are only ever served as
attachments with `nosniff` and a sandboxing CSP.
"""

from __future__ import annotations

import hashlib
import io
import re
import uuid
import warnings
import zlib
from dataclasses import dataclass

from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _
from PIL import Image

MAX_BYTES = 10 * 1024 * 1024
MAX_FILES = 5
# A 20,000 x 20,000 "pixel bomb" is 400 Mpx; real screenshots are well under 40 Mpx.
MAX_PIXELS = 40_000_000

# MIME type -> (extensions a file of that type may carry, Pillow format to re-encode with)
_TYPES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "image/png": ((".png",), "PNG"),
    "image/jpeg": ((".jpg", ".jpeg"), "JPEG"),
    "image/webp": ((".webp",), "WEBP"),
    "application/pdf": ((".pdf",), None),
}


class UploadRejected(ValueError):
    """The message is shown to the user next to the file field."""


@dataclass
class CleanFile:
    code: uuid.UUID
    stored_name: str
    original_name: str
    content_type: str
    data: bytes
    sha256: str
    width: int | None = None
    height: int | None = None


def sniff(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


# PDF names that make a reader run something: on opening (/OpenAction), on events (/AA), scripts
# (/JavaScript, /JS) or other programs (/Launch). A name ends at a delimiter, so /JSON is not /JS.
_ACTIVE_PDF = re.compile(rb"/(OpenAction|JavaScript|JS|Launch|AA)(?![A-Za-z0-9#_.-])")
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_STREAM = re.compile(rb"stream\r?\n(.*?)endstream", re.DOTALL)
MAX_INFLATED = 50 * 1024 * 1024


def pdf_active_content(data: bytes) -> str | None:
    """The first active-content name in a PDF, looked for in its plain objects and in its compressed
    streams (object streams hide dictionaries there), with `#xx` escapes in names undone (/J#61vaScript)."""
    chunks = [data]
    budget = MAX_INFLATED
    for match in _STREAM.finditer(data):
        try:
            inflater = zlib.decompressobj()
            inflated = inflater.decompress(match.group(1), budget)
        except zlib.error:
            continue
        budget -= len(inflated)
        chunks.append(inflated)
        if budget <= 0:
            return _("too much compressed content to check")
    for chunk in chunks:
        found = _ACTIVE_PDF.search(_NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), chunk))
        if found:
            return "/" + found.group(1).decode()
    return None


def safe_display_name(name: str) -> str:
    """What the file is called when downloaded: no paths, no control characters, bounded length."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"|?*').strip(" .")
    return cleaned[:150] or "evidence"


def clean_upload(upload: UploadedFile) -> CleanFile:
    name = safe_display_name(upload.name or "")
    if upload.size is None or upload.size > MAX_BYTES:
        raise UploadRejected(_("“%(name)s” is larger than 10 MB.") % {"name": name})
    data = upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise UploadRejected(_("“%(name)s” is larger than 10 MB.") % {"name": name})
    kind = sniff(data[:16])
    if kind is None:
        raise UploadRejected(_("“%(name)s” is not a PNG, JPEG, WebP image or a PDF.") % {"name": name})
    extensions, pil_format = _TYPES[kind]
    if not name.lower().endswith(extensions):
        raise UploadRejected(
            _("“%(name)s” is really a %(kind)s file; its name says otherwise.")
            % {"name": name, "kind": kind.split("/")[1].upper()}
        )
    code = uuid.uuid4()
    width = height = None
    if pil_format is None:
        if b"%%EOF" not in data[-2048:]:
            raise UploadRejected(_("“%(name)s” is not a complete PDF.") % {"name": name})
        active = pdf_active_content(data)
        if active is not None:
            raise UploadRejected(
                _(
                    "“%(name)s” contains active content (%(what)s: scripts or actions a reader would run) and "
                    "was not stored. Print it to a new PDF (or take a screenshot) and upload that."
                )
                % {"name": name, "what": active}
            )
    else:
        data, width, height = _reencode(data, pil_format, name)
    return CleanFile(
        code=code,
        stored_name=f"{code.hex}{extensions[0]}",
        original_name=name,
        content_type=kind,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        width=width,
        height=height,
    )


def _reencode(data: bytes, pil_format: str, name: str) -> tuple[bytes, int, int]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if probe.format != pil_format:
                    raise UploadRejected(_("“%(name)s” could not be read as an image.") % {"name": name})
                # The header alone tells the size: refuse bombs before decoding a single pixel.
                if probe.width * probe.height > MAX_PIXELS:
                    raise UploadRejected(
                        _("“%(name)s” is %(width)s x %(height)s pixels; the limit is 40 megapixels.")
                        % {"name": name, "width": probe.width, "height": probe.height}
                    )
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                pixels = image.copy()
    except UploadRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadRejected(_("“%(name)s” has too many pixels.") % {"name": name}) from None
    except Exception:  # Pillow raises many types for broken files; all mean "not a usable image"
        raise UploadRejected(_("“%(name)s” could not be read as an image.") % {"name": name}) from None
    if pil_format == "JPEG" and pixels.mode not in ("RGB", "L"):
        pixels = pixels.convert("RGB")
    out = io.BytesIO()
    # No exif=, no pnginfo=: metadata is not carried over.
    pixels.save(out, format=pil_format, **({"quality": 90} if pil_format in ("JPEG", "WEBP") else {}))
    return out.getvalue(), pixels.width, pixels.height
