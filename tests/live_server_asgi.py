"""The app under uvicorn in a subprocess, against the pytest-django test database, and an SSE test client.

The server itself is bench.processes.AsgiServer (one copy for the tests and the benchmarks); what is
test-only lives here: the environment pointing it at the test database, the session fixture, the client.

Why not Django's `live_server`: it is a threaded WSGI server, so it never runs the ASGI events endpoint
(warroom/asgi.py dispatches /events/ before Django), and streams left open there outlive the test and hit
"Database access not allowed" (reliability-anchors §5). Here uvicorn runs exactly what production runs,
serving pages through Django's ASGI handler and /events/ through the raw endpoint, and static files through
WhiteNoise (tests.settings has WHITENOISE_USE_FINDERS=True).

Use it from tests marked `@pytest.mark.django_db(transaction=True)`: the server is another process, so it
only sees committed rows. Enable it with `pytest_plugins = ["tests.live_server_asgi"]` in conftest.py.

    def test_something(asgi_server):
        asgi_server.url               # http://127.0.0.1:<port>
        asgi_server.restart()         # SIGKILL, then start again on the same port (cuts every stream)
        asgi_server.stats()           # /events/stats of the running process
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest

from bench.processes import AsgiServer


def database_url() -> str:
    """The database Django is using right now: under pytest-django, after django_db_setup, the test one."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    name = quote(db["NAME"], safe="")
    if host.startswith("/"):  # a unix-socket directory: warroom.env.parse_database_url reads ?host=
        return f"postgresql://{auth}{port}/{name}?host={quote(host, safe='')}"
    return f"postgresql://{auth}{host}{port}/{name}"


def server_environment(**overrides: str) -> dict[str, str]:
    """This process's environment, pointed at the test database, with the same secret key (tokens minted
    in the test verify in the server) and the same Redis."""
    from django.conf import settings

    env = {
        k: v
        for k, v in os.environ.items()
        # The conftest allows sync ORM calls inside the test's event loop; the server must not inherit that.
        if k not in {"DJANGO_ALLOW_ASYNC_UNSAFE", "SECRET_KEY_FILE", "DATABASE_URL_FILE", "REDIS_URL_FILE"}
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "SECRET_KEY": settings.SECRET_KEY,
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": os.environ.get("ASGI_SERVER_LOG_LEVEL", "WARNING"),
        }
    )
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def asgi_server(django_db_setup: None) -> Iterator[AsgiServer]:
    """One uvicorn for the session, serving the whole app against the test database."""
    server = AsgiServer(server_environment())
    server.start()
    try:
        yield server
    finally:
        log = server.log_tail(200)
        # Before django_db_setup's teardown drops the test database (which needs our connections gone).
        server.close()
        if "Traceback" in log or "ERROR" in log:
            print(f"\n--- uvicorn log (asgi_server) ---\n{log}", file=sys.stderr)


# --- A small SSE client over a raw socket ---------------------------------------------------------------
# Raw, because http.client's chunked reader is not safe to resume after a socket timeout, and tests need
# "wait up to N seconds for the next event" without threads. The benchmarks have a receiver of their own
# (bench/fanout.py, StreamClient): an asyncio protocol for 1,000 connections in one thread that timestamps
# every read before parsing anything; this one blocks and parses as it goes, which keeps tests readable.


@dataclass
class SSEEvent:
    event: str
    data: str
    id: str | None


@dataclass
class SSEClient:
    host: str
    port: int
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    connect_timeout: float = 5.0
    source_address: str | None = None
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    raw: bytearray = field(default_factory=bytearray)  # the decoded response body so far
    events: list[SSEEvent] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    retry: int | None = None
    ended: bool = False  # the server finished the response, or the connection dropped
    _sock: socket.socket | None = None
    _wire: bytearray = field(default_factory=bytearray)
    _chunked: bool = False
    _remaining: int | None = None
    _text: str = ""
    _fields: dict[str, str] = field(default_factory=dict)
    _data: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, url: str, path: str, **kwargs: Any) -> SSEClient:
        host, _, port = url.removeprefix("http://").partition(":")
        client = cls(host, int(port), path, **kwargs)
        client.connect()
        return client

    def connect(self) -> None:
        source = (self.source_address, 0) if self.source_address else None
        self._sock = socket.create_connection((self.host, self.port), self.connect_timeout, source)
        lines = [f"GET {self.path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        deadline = time.monotonic() + self.connect_timeout
        while b"\r\n\r\n" not in self._wire:
            if not self._recv(deadline - time.monotonic()) and (self.ended or time.monotonic() >= deadline):
                raise ConnectionError(f"no response head from {self.path}")
        head, _, rest = bytes(self._wire).partition(b"\r\n\r\n")
        self._wire = bytearray(rest)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        for line in header_lines:
            key, _, value = line.partition(":")
            self.response_headers[key.strip().lower()] = value.strip()
        self._chunked = self.response_headers.get("transfer-encoding", "").lower() == "chunked"
        if "content-length" in self.response_headers:
            self._remaining = int(self.response_headers["content-length"])
            self.ended = self._remaining == 0 and not self._wire
        self._decode()

    def _recv(self, timeout: float) -> bool:
        """Read what arrives within `timeout`; False if nothing did."""
        if self._sock is None or self.ended:
            return False
        self._sock.settimeout(max(0.001, timeout))
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            return False
        except OSError:
            data = b""
        if not data:
            self.ended = True
            return False
        self._wire += data
        return True

    def _decode(self) -> None:
        if self._chunked:
            while True:
                line_end = self._wire.find(b"\r\n")
                if line_end < 0:
                    break
                size = int(bytes(self._wire[:line_end]).split(b";")[0], 16)
                if size == 0:
                    self.ended = True
                    self._wire.clear()
                    break
                if len(self._wire) < line_end + 2 + size + 2:
                    break
                self._feed(bytes(self._wire[line_end + 2 : line_end + 2 + size]))
                del self._wire[: line_end + 2 + size + 2]
        elif self._wire:
            chunk = bytes(self._wire)
            self._wire.clear()
            if self._remaining is not None:
                chunk = chunk[: self._remaining]
                self._remaining -= len(chunk)
                if self._remaining <= 0:
                    self.ended = True
            self._feed(chunk)

    def _feed(self, chunk: bytes) -> None:
        self.raw += chunk
        self._text += chunk.decode("utf-8")
        *lines, self._text = self._text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for line in lines:
            if line == "":
                if self._data:
                    self.events.append(
                        SSEEvent(
                            self._fields.get("event", "message"),
                            "\n".join(self._data),
                            self._fields.get("id"),
                        )
                    )
                self._fields, self._data = {}, []
            elif line.startswith(":"):
                self.comments.append(line[1:].strip())
            else:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "data":
                    self._data.append(value)
                elif name == "retry":
                    self.retry = int(value)
                else:
                    self._fields[name] = value

    def pump(self, timeout: float = 0.2) -> bool:
        got = self._recv(timeout)
        self._decode()
        return got

    def wait_for(self, predicate: Callable[[SSEClient], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (self.ended and not self._wire):
                return predicate(self)
            self.pump(min(remaining, 0.5))
        return True

    def wait_until_ended(self, timeout: float = 5.0) -> bool:
        return self.wait_for(lambda c: c.ended, timeout)

    @property
    def is_open(self) -> bool:
        return "open" in self.comments

    def entries(self) -> list[tuple[int, str]]:
        return [(int(e.id or 0), e.data) for e in self.events if e.event == "entry"]

    def entry_ids(self) -> list[int]:
        return [seq for seq, _ in self.entries()]

    def presence(self) -> list[dict[str, Any]]:
        return [json.loads(e.data) for e in self.events if e.event == "presence"]

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None
        self.ended = True

    def __enter__(self) -> SSEClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
