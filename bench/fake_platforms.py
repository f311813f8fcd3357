"""Loopback fakes of the platforms the publishing connectors talk to, for the tests and `make bench`:
Mastodon (statuses with Idempotency-Key), a Bluesky PDS (XRPC: createSession, refreshSession, createRecord,
putRecord, getRecord) and a webhook receiver. Real sockets, every request recorded with its exact body bytes,
scripted faults (an HTTP status, an answer dropped after the post was made), an optional latency per answer.

Standard library only (a thread per server), so `python -m bench` loads it without pytest.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

DROP = object()  # answer nothing: close the connection (the client sees a reset / no response)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Fake:
    """One server: `answer()` decides; `requests` is what it was sent, in order."""

    latency: float = 0.0
    requests: list[Request] = field(default_factory=list)
    # Scripted answers for the next requests to a path: a status (with a JSON error), or DROP.
    faults: dict[str, list[Any]] = field(default_factory=dict)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: Request) -> tuple[int, dict[str, str], bytes] | object:  # pragma: no cover
        raise NotImplementedError

    def fault(self, path: str, *answers: Any) -> None:
        with self.lock:
            self.faults.setdefault(path, []).extend(answers)

    def _scripted(self, path: str) -> Any:
        with self.lock:
            queue = self.faults.get(path)
            return queue.pop(0) if queue else None

    def posts_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.method == "POST" and r.path == path]


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(data).encode()


class FakeMastodon(Fake):
    """POST /api/v1/statuses. Keeps Idempotency-Key per token, as Mastodon does (after a successful create): a
    repeat returns the status the first request created. `limit` is the instance's character limit (422 past
    it, counted as code points: the fake only needs to refuse what the connector lets through)."""

    def __init__(self, token: str = "mastodon-token", limit: int = 500, latency: float = 0.0) -> None:
        super().__init__(latency=latency)
        self.token = token
        self.limit = limit
        self.statuses: list[dict[str, Any]] = []
        self.keys: dict[tuple[str, str], dict[str, Any]] = {}
        self.drop_after_create = 0  # answer nothing to the next n creates (made, then the answer is lost)

    def answer(self, request: Request) -> Any:
        if request.path != "/api/v1/statuses" or request.method != "POST":
            return _json(404, {"error": "Record not found"})
        scripted = self._scripted(request.path)
        if scripted is not None and scripted is not DROP:
            return _json(int(scripted), {"error": f"scripted {scripted}"})
        if scripted is DROP:
            return DROP
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _json(401, {"error": "The access token is invalid"})
        data = request.json()
        key = request.headers.get("idempotency-key", "")
        with self.lock:
            if key and (self.token, key) in self.keys:
                return _json(200, self.keys[(self.token, key)])
            if len(data.get("status", "")) > self.limit:
                return _json(
                    422, {"error": f"Validation failed: Text character limit of {self.limit} exceeded"}
                )
            status_id = str(110000000000000000 + len(self.statuses) + 1)
            status = {"id": status_id, "url": f"{self.url}/@northwind/{status_id}", "content": data["status"]}
            self.statuses.append(status)
            if key:
                self.keys[(self.token, key)] = status
            if self.drop_after_create:
                self.drop_after_create -= 1
                return DROP
        return _json(200, status)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def fake_jwt(did: str, lifetime: float, scope: str = "com.atproto.access") -> str:
    now = int(time.time())
    return ".".join(
        [
            _b64({"alg": "HS256", "typ": "JWT"}),
            _b64({"scope": scope, "sub": did, "iat": now, "exp": now + int(lifetime)}),
            "c2ln",
        ]
    )


class FakeBluesky(Fake):
    """A PDS, as far as posting goes. Sessions carry decodable JWTs with `exp` (the SDK refreshes by them) and
    no DID document (so the SDK stays on this address). One record per (collection, rkey): a second create of
    an existing key is refused (`on_duplicate`: the status it answers), a put overwrites."""

    def __init__(
        self, handle: str = "northwind.example", password: str = "app-pass-1234", latency: float = 0.0
    ) -> None:
        super().__init__(latency=latency)
        self.handle = handle
        self.password = password
        self.did = "did:plc:northwindfake0000000000"
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        self.tokens: set[str] = set()
        self.on_duplicate = 400
        self.drop_after_create = 0
        self.access_lifetime = 7200.0

    def _session(self) -> tuple[int, dict[str, str], bytes]:
        access = fake_jwt(self.did, self.access_lifetime)
        refresh = fake_jwt(self.did, 86400, "com.atproto.refresh")
        self.tokens.update({access, refresh})
        return _json(
            200,
            {
                "accessJwt": access,
                "refreshJwt": refresh,
                "handle": self.handle,
                "did": self.did,
                "active": True,
            },
        )

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def answer(self, request: Request) -> Any:
        nsid = request.path.removeprefix("/xrpc/")
        scripted = self._scripted(request.path)
        if scripted is DROP:
            return DROP
        if scripted is not None:
            return _json(int(scripted), {"error": "InternalServerError", "message": f"scripted {scripted}"})
        if nsid == "com.atproto.server.createSession":
            data = request.json()
            if data.get("identifier") != self.handle or data.get("password") != self.password:
                return _json(
                    401, {"error": "AuthenticationRequired", "message": "Invalid identifier or password"}
                )
            with self.lock:
                return self._session()
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self.lock:
            if token not in self.tokens:
                return _json(
                    400 if nsid == "com.atproto.server.refreshSession" else 401,
                    {"error": "ExpiredToken", "message": "Token has been revoked"},
                )
        if nsid == "com.atproto.server.refreshSession":
            with self.lock:
                return self._session()
        if nsid == "com.atproto.repo.getRecord":
            key = (request.query["collection"][0], request.query["rkey"][0])
            with self.lock:
                record = self.records.get(key)
            if record is None:
                return _json(400, {"error": "RecordNotFound", "message": "Could not locate record"})
            return _json(200, record)
        if nsid in ("com.atproto.repo.createRecord", "com.atproto.repo.putRecord"):
            data = request.json()
            key = (data["collection"], data.get("rkey") or f"auto{len(self.records)}")
            with self.lock:
                if nsid.endswith("createRecord") and key in self.records:
                    return _json(
                        self.on_duplicate, {"error": "InvalidRequest", "message": "Record already exists"}
                    )
                uri = f"at://{self.did}/{key[0]}/{key[1]}"
                record = {"uri": uri, "cid": f"bafyfake{len(self.records)}", "value": data["record"]}
                self.records[key] = record
                if self.drop_after_create:
                    self.drop_after_create -= 1
                    return DROP
            return _json(200, {"uri": uri, "cid": record["cid"]})
        return _json(400, {"error": "MethodNotImplemented", "message": nsid})

    def posts(self) -> list[dict[str, Any]]:
        return [
            r["value"]
            for (collection, _rkey), r in self.records.items()
            if collection == "app.bsky.feed.post"
        ]


class FakeWebhook(Fake):
    """A receiver: 200 with {"id", "url"} unless scripted; de-duplicates nothing itself (tests count ids)."""

    def answer(self, request: Request) -> Any:
        scripted = self._scripted(request.path)
        if scripted is DROP:
            return DROP
        if scripted is not None:
            return _json(int(scripted), {"error": f"scripted {scripted}"}, {"Retry-After": "0"})
        msg = request.headers.get("webhook-id", "")
        return _json(200, {"id": f"status-{msg[:8]}", "url": f"{self.url}/incidents/{msg[:8]}"})


F = TypeVar("F", bound=Fake)


@contextmanager
def serving(fake: F) -> Iterator[F]:
    class Handle(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(
                method,
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            with fake.lock:
                fake.requests.append(request)
            if fake.latency:
                time.sleep(fake.latency)
            answer = fake.answer(request)
            if answer is DROP:
                self.close_connection = True
                self.connection.close()
                return
            assert isinstance(answer, tuple)
            status: int = answer[0]
            headers: dict[str, str] = answer[1]
            payload: bytes = answer[2]
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._any("GET")

        def do_POST(self) -> None:
            self._any("POST")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
