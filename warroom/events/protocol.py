"""The wire format: ASGI type names, SSE framing of entries and presence, the fixed frames and headers.
May import the standard library only."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Final

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

RETRY_MS: Final = 2000

SSE_HEADERS: Final = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    # nginx and friends would otherwise buffer the stream until it ends.
    (b"x-accel-buffering", b"no"),
    (b"x-content-type-options", b"nosniff"),
]
OPENING: Final = f"retry: {RETRY_MS}\n\n: open\n\n".encode()
HEARTBEAT: Final = b": ka\n\n"
# Sent before the server ends a stream because access was withdrawn, so the page can stop reconnecting
# with a token that will now be refused (and reload, which then shows the 404 every other route gives).
REVOKED: Final = b"event: revoked\ndata: {}\n\n"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # exactly the line endings SSE knows (not str.splitlines's set)


def entry_frame(seq: int, html: str) -> bytes:
    """One timeline entry as an SSE event. SSE ends a field at any line break, so a multi-line fragment is
    sent as one `data:` line per line, which the browser joins back with "\\n"."""
    data = "".join(f"data: {line}\n" for line in _LINE_BREAK.split(html))
    return f"id: {seq}\nevent: entry\n{data}\n".encode()


def presence_frame(people: Iterable[tuple[int, str, str]]) -> bytes:
    """Who has the room open. No `id:` line, so the browser's Last-Event-ID stays the last entry's seq."""
    ordered = sorted(people, key=lambda p: (p[1].casefold(), p[0]))
    payload = {"people": [{"id": pk, "n": name, "a": initials} for pk, name, initials in ordered]}
    return f"event: presence\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()
