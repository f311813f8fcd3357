"""One origin for pages and live streams: a small streaming reverse proxy (`make run` and docker-compose).

Standard library only (uvloop when installed); no Django. `/events/…` goes to the events process, everything
else to gunicorn. Browsers then open their streams on the page's own origin, so no cross-origin request,
no CORS and no credentials question ever arises (an EventSource opened with credentials to another origin
is refused unless that origin answers with Access-Control-Allow-Credentials).

Deliberately small: one request per client connection. The request head is read and rewritten
(hop-by-hop headers dropped, `Connection: close`, X-Forwarded-For appended), then bytes are copied both
ways as they arrive — no buffering, so an SSE event reaches the browser the moment the events process
writes it — until either side closes. The response head gets `Connection: close` too, so the browser opens
a fresh connection for its next request (cheap on loopback; gunicorn's sync workers close theirs anyway).
Nothing is parsed past the head, so bodies of any framing pass unchanged.

    python -m warroom.proxy --listen 0.0.0.0:8000 --web web:8000 --events events:8001
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import sys
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

MAX_HEAD_BYTES = 64 * 1024
HEAD_TIMEOUT_SECONDS = 30.0
# Covers a restart of the process behind (the launcher restarts a dead one after 1 s, then it boots):
# the browser waits a little instead of getting an error page.
CONNECT_RETRY_SECONDS = 8.0
CHUNK_BYTES = 64 * 1024
EVENTS_PREFIX = b"/events/"
# Hop-by-hop (RFC 9110 §7.6.1), plus Expect (we never relay a 100 Continue) and Upgrade (no WebSockets).
HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"upgrade", b"expect"}
)


class BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


Address = tuple[str, int]


def parse_address(text: str) -> Address:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not host:port")
    return host or "0.0.0.0", int(port)


def route(target: bytes) -> str:
    """'events' for /events and /events/…, 'web' for everything else."""
    path = target.split(b"?", 1)[0]
    if path.startswith((b"http://", b"https://")):  # absolute-form: keep only the path
        path = b"/" + path.split(b"/", 3)[-1] if path.count(b"/") >= 3 else b"/"
    return "events" if path == EVENTS_PREFIX.rstrip(b"/") or path.startswith(EVENTS_PREFIX) else "web"


def split_head(head: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """(start line, [(name, value)]) of a request or response head ending in CRLF CRLF."""
    lines = head[:-4].split(b"\r\n")
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        # Obsolete line folding and whitespace before the colon are smuggling tools; refuse them.
        if not sep or not name or name != name.strip() or line[:1] in (b" ", b"\t"):
            raise BadRequest(400, "Bad Request")
        headers.append((name, value.strip()))
    return lines[0], headers


def _dropped(headers: list[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """Hop-by-hop names, including those a Connection header lists."""
    listed = {
        token.strip().lower()
        for name, value in headers
        if name.lower() == b"connection"
        for token in value.split(b",")
    }
    return HOP_BY_HOP | listed


def request_head(start: bytes, headers: list[tuple[bytes, bytes]], client_ip: str) -> bytes:
    parts = start.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        raise BadRequest(400, "Bad Request")
    drop = _dropped(headers)
    forwarded_for: list[bytes] = []
    out = [start]
    for name, value in headers:
        lower = name.lower()
        if lower in drop:
            continue
        if lower == b"x-forwarded-for":
            forwarded_for.append(value)
            continue
        out.append(name + b": " + value)
    # X-Forwarded-Proto and -Host pass unchanged: a TLS proxy in front of this one sets them.
    out.append(b"X-Forwarded-For: " + b", ".join([*forwarded_for, client_ip.encode("ascii")]))
    out.append(b"Connection: close")
    return b"\r\n".join(out) + b"\r\n\r\n"


def response_head(head: bytes) -> bytes:
    start, headers = split_head(head)
    drop = _dropped(headers)
    out = [start, *(name + b": " + value for name, value in headers if name.lower() not in drop)]
    out.append(b"Connection: close")
    return b"\r\n".join(out) + b"\r\n\r\n"


def body_length(method: bytes, head: bytes) -> int | None:
    """Bytes of body after a response head; None when it ends with the connection (chunked, unframed).

    We asked for `Connection: close`, which gunicorn and uvicorn honour, so EOF would do; counting a
    Content-Length as well ends the exchange on time even with a server that keeps the connection.
    """
    start, headers = split_head(head)
    parts = start.split(b" ", 2)
    status = parts[1] if len(parts) > 1 else b""
    if method == b"HEAD" or status[:1] == b"1" or status in (b"204", b"304"):
        return 0
    names = {name.lower(): value for name, value in headers}
    if b"transfer-encoding" in names:
        return None
    length = names.get(b"content-length", b"")
    return int(length) if length.isdigit() else None


def error_response(status: int, reason: str, text: str) -> bytes:
    body = (text + "\n").encode("utf-8")
    return (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Retry-After: 1\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii") + body


@dataclass
class Proxy:
    web: Address
    events: Address
    connect_retry: float = CONNECT_RETRY_SECONDS
    # Open client connections, and of those the ones with an upstream connection (tests, bench).
    clients: int = 0
    upstreams: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, repr=False)

    async def serve(self, sock: socket.socket) -> asyncio.Server:
        return await asyncio.start_server(self._accept, sock=sock, limit=MAX_HEAD_BYTES)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self.handle(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.clients += 1
        up_writer: asyncio.StreamWriter | None = None
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_SECONDS)
                start, headers = split_head(head)
                peer = writer.get_extra_info("peername")
                upstream_head = request_head(start, headers, str(peer[0]) if peer else "unknown")
            except asyncio.IncompleteReadError:
                return  # closed before sending a request (a browser's spare connection)
            except asyncio.LimitOverrunError:
                writer.write(
                    error_response(431, "Request Header Fields Too Large", "Request head too large.")
                )
                return
            except TimeoutError:
                writer.write(error_response(408, "Request Timeout", "No request arrived."))
                return
            except BadRequest as exc:
                writer.write(error_response(exc.status, exc.reason, "Malformed request."))
                return
            method, target = start.split(b" ")[:2]
            which = route(target)
            try:
                up_reader, up_writer = await self._connect(self.events if which == "events" else self.web)
            except OSError:
                writer.write(
                    error_response(502, "Bad Gateway", f"The war room's {which} process is not answering.")
                )
                return
            self.upstreams += 1
            try:
                up_writer.write(upstream_head)
                await self._relay(reader, writer, up_reader, up_writer, which, method)
            finally:
                self.upstreams -= 1
        except (ConnectionError, OSError):
            pass  # either side went away; nothing to tell anyone
        finally:
            self.clients -= 1
            for w in (writer, up_writer):
                if w is not None:
                    w.close()

    async def _connect(self, address: Address) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_retry
        while True:
            try:
                return await asyncio.open_connection(*address, limit=MAX_HEAD_BYTES)
            except OSError:
                if loop.time() >= deadline:
                    raise
                await asyncio.sleep(0.1)

    async def _relay(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
        which: str,
        method: bytes,
    ) -> None:
        # Client → upstream (a request body, if any) and upstream → client (the response) at once; when
        # either ends, so does the exchange: a browser never half-closes, so its EOF means it has gone
        # (an EventSource closed, a page left), and the events process must learn it now, not at the
        # next heartbeat.
        to_upstream = asyncio.ensure_future(_copy(reader, up_writer))
        to_client = asyncio.ensure_future(self._respond(up_reader, writer, which, method))
        try:
            await asyncio.wait({to_upstream, to_client}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (to_upstream, to_client):
                task.cancel()
            await asyncio.gather(to_upstream, to_client, return_exceptions=True)

    async def _respond(
        self, up_reader: asyncio.StreamReader, writer: asyncio.StreamWriter, which: str, method: bytes
    ) -> None:
        try:
            head = await up_reader.readuntil(b"\r\n\r\n")
            client_head = response_head(head)
            length = body_length(method, head)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, BadRequest):
            # The process died or answered garbage before a response started: say so, once.
            writer.write(
                error_response(502, "Bad Gateway", f"The war room's {which} process gave no answer.")
            )
            await writer.drain()
            return
        writer.write(client_head)
        await writer.drain()
        await _copy(up_reader, writer, length)


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter, length: int | None = None) -> None:
    """Bytes as they arrive, until EOF or, when `length` is given, until that many have passed."""
    remaining = -1 if length is None else length
    while remaining:
        chunk = await source.read(CHUNK_BYTES if remaining < 0 else min(CHUNK_BYTES, remaining))
        if not chunk:
            return
        sink.write(chunk)
        await sink.drain()
        if remaining > 0:
            remaining -= len(chunk)


# --- running it ---------------------------------------------------------------------------------------------


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def listening_socket(address: Address) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock


class ProxyThread:
    """A Proxy on its own event loop in a daemon thread (the launcher's main thread belongs to signals)."""

    def __init__(self, sock: socket.socket, *, web: Address, events: Address) -> None:
        self.sock = sock
        self.proxy = Proxy(web=web, events=events)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="proxy", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            raise RuntimeError(f"the proxy did not start: {self._error!r}")

    def stop(self, timeout: float = 5.0) -> None:
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended on its own meanwhile
                loop.call_soon_threadsafe(stopped.set)
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                runner.run(self._main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        server = await self.proxy.serve(self.sock)
        self._ready.set()
        try:
            await self._stopped.wait()
        finally:
            server.close()
            await self.proxy.close_all()
            await server.wait_closed()


def _main_coroutine(args: argparse.Namespace) -> Coroutine[Any, Any, None]:
    async def main() -> None:
        proxy = Proxy(web=args.web, events=args.events)
        server = await proxy.serve(listening_socket(args.listen))
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopped.set)
        print(
            f"proxy: http://{args.listen[0]}:{args.listen[1]}/ -> events {args.events[0]}:{args.events[1]} "
            f"for /events/, web {args.web[0]}:{args.web[1]} for the rest",
            flush=True,
        )
        await stopped.wait()
        server.close()
        await proxy.close_all()

    return main()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m warroom.proxy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", type=parse_address, default=("127.0.0.1", 8000), metavar="HOST:PORT")
    parser.add_argument("--web", type=parse_address, required=True, metavar="HOST:PORT")
    parser.add_argument("--events", type=parse_address, required=True, metavar="HOST:PORT")
    args = parser.parse_args(argv)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_main_coroutine(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
