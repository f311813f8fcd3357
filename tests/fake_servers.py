"""Loopback HTTP servers for the listening tests: real sockets, scripted answers, every request recorded."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Seen], Answer]


@dataclass
class FakeServer:
    url: str
    requests: list[Seen]
    routes: dict[str, Handler]

    def route(self, path: str, handler: Handler | Answer) -> None:
        if isinstance(handler, Answer):
            fixed = handler
            self.routes[path] = lambda _seen: fixed
        else:
            self.routes[path] = handler


@contextmanager
def fake_server() -> Iterator[FakeServer]:
    requests: list[Seen] = []
    routes: dict[str, Handler] = {}

    class Handle(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            seen = Seen(
                "GET", parts.path, parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()}
            )
            requests.append(seen)
            handler = routes.get(parts.path)
            answer = handler(seen) if handler else Answer(404, b"not here")
            self.send_response(answer.status)
            for k, v in answer.headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FakeServer(f"http://127.0.0.1:{server.server_address[1]}", requests, routes)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
