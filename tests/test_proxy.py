"""The one-origin proxy (warroom/proxy.py) in front of small real upstream servers, spoken to over raw sockets.

The end-to-end check with the real web and events processes and a browser is tests/test_launcher_stack.py.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from warroom.proxy import Proxy, ProxyThread, listening_socket, route

CEILING = 20.0


@dataclass
class Upstream:
    """A tiny HTTP server on its own loop: records each request head, answers as `answer` says."""

    name: str
    answer: Callable[[bytes, asyncio.StreamReader, asyncio.StreamWriter], object] | None = None
    heads: list[bytes] = field(default_factory=list)
    disconnects: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    def start(self) -> None:
        ready = threading.Event()

        async def serve() -> None:
            server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            async with server:
                await server.serve_forever()

        threading.Thread(target=lambda: asyncio.run(serve()), daemon=True).start()
        assert ready.wait(CEILING)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head)
        if self.answer is not None:
            await self.answer(head, reader, writer)  # type: ignore[misc]
        else:
            body = f"{self.name} {head.split(b' ')[1].decode()}".encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n%s"
                % (len(body), body)
            )
            await writer.drain()
            # Like a keep-alive server: waits for the next request until the client closes.
        try:
            await reader.read()
        finally:
            self.disconnects += 1
            writer.close()


@pytest.fixture
def web() -> Upstream:
    upstream = Upstream("web")
    upstream.start()
    return upstream


@pytest.fixture
def events() -> Upstream:
    upstream = Upstream("events")
    upstream.start()
    return upstream


@pytest.fixture
def proxy(web: Upstream, events: Upstream) -> Iterator[tuple[ProxyThread, int]]:
    sock = listening_socket(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    thread = ProxyThread(sock, web=("127.0.0.1", web.port), events=("127.0.0.1", events.port))
    thread.proxy.connect_retry = 0.3
    thread.start()
    yield thread, port
    thread.stop()


def exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=CEILING) as client:
        client.sendall(request)
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + CEILING
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_route() -> None:
    assert route(b"/events/timeline?t=x") == "events"
    assert route(b"/events") == "events"
    assert route(b"http://h:1/events/x") == "events"
    assert route(b"/eventsx/") == "web"
    assert route(b"/") == "web"
    assert route(b"/static/x.js?events/") == "web"


def test_pages_go_to_web_and_streams_to_events_and_every_answer_closes(
    proxy: tuple[ProxyThread, int], web: Upstream, events: Upstream
) -> None:
    _, port = proxy
    page = exchange(port, b"GET /incidents/ HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n")
    stream = exchange(port, b"GET /events/healthz HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n")

    assert page.endswith(b"web /incidents/")
    assert stream.endswith(b"events /events/healthz")
    for answer in (page, stream):
        head = answer.split(b"\r\n\r\n")[0].lower()
        # The upstream offered keep-alive; the client is told the truth: one request per connection.
        assert b"connection: close" in head
        assert b"keep-alive" not in head
    assert len(web.heads) == len(events.heads) == 1
    # The upstream learns the exchange is over (the proxy closed its side): nothing lingers.
    _wait_for(lambda: web.disconnects == events.disconnects == 1, "both upstream connections to close")


def test_the_request_head_keeps_the_host_and_proxy_headers_and_drops_hop_by_hop(
    proxy: tuple[ProxyThread, int], web: Upstream
) -> None:
    _, port = proxy
    exchange(
        port,
        b"GET /x HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nConnection: keep-alive, X-Private\r\nX-Private: 1\r\n"
        b"Keep-Alive: timeout=5\r\nUpgrade: websocket\r\nExpect: 100-continue\r\n"
        b"X-Forwarded-Proto: https\r\nX-Forwarded-For: 203.0.113.9\r\nCookie: sessionid=abc\r\n\r\n",
    )
    head = web.heads[0]
    lines = head.split(b"\r\n")
    assert lines[0] == b"GET /x HTTP/1.1"
    assert b"Host: 127.0.0.1:8000" in lines  # Django builds links and checks ALLOWED_HOSTS with it
    assert b"Cookie: sessionid=abc" in lines
    assert b"X-Forwarded-Proto: https" in lines  # set by a TLS proxy in front; passed through
    assert b"X-Forwarded-For: 203.0.113.9, 127.0.0.1" in lines
    assert b"Connection: close" in lines
    for dropped in (b"x-private", b"keep-alive", b"upgrade", b"expect"):
        assert not any(line.lower().startswith(dropped + b":") for line in lines), dropped


def test_a_request_body_passes_unchanged(proxy: tuple[ProxyThread, int], web: Upstream) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB, every byte value

    async def count(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        received = await reader.readexactly(length)
        answer = b"%d %d" % (len(received), int(received == body))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer))
        await writer.drain()

    web.answer = count
    _, port = proxy
    answer = exchange(
        port, b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    assert answer.endswith(b"1048576 1")


def test_a_stream_arrives_event_by_event_and_ends_upstream_when_the_browser_leaves(
    proxy: tuple[ProxyThread, int], events: Upstream
) -> None:
    async def sse(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n\r\n")
        writer.write(b"id: 1\ndata: first\n\n")
        await writer.drain()
        await asyncio.get_running_loop().run_in_executor(None, events.release.wait)
        writer.write(b"id: 2\ndata: second\n\n")
        await writer.drain()

    events.answer = sse
    thread, port = proxy
    with socket.create_connection(("127.0.0.1", port), timeout=CEILING) as client:
        client.sendall(b"GET /events/timeline?t=x HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        received = b""
        while b"data: first\n\n" not in received:
            received += client.recv(65536)
        # The first event is here while the events process still holds the second: nothing is buffered.
        assert b"second" not in received
        events.release.set()
        while b"data: second\n\n" not in received:
            received += client.recv(65536)
        assert thread.proxy.upstreams == 1
    # The browser closed the stream; the events process must hear of it now, not at its next heartbeat.
    _wait_for(lambda: events.disconnects == 1, "the events process to see the disconnect")
    _wait_for(lambda: thread.proxy.clients == thread.proxy.upstreams == 0, "the proxy to forget both sides")


def test_nobody_behind_means_a_502_that_says_which_process(events: Upstream) -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        dead_port = placeholder.getsockname()[1]
    sock = listening_socket(("127.0.0.1", 0))
    thread = ProxyThread(sock, web=("127.0.0.1", dead_port), events=("127.0.0.1", events.port))
    thread.proxy.connect_retry = 0.2
    thread.start()
    try:
        answer = exchange(sock.getsockname()[1], b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    finally:
        thread.stop()
    assert answer.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert b"Retry-After: 1" in answer
    assert answer.endswith(b"The war room's web process is not answering.\n")


def test_an_upstream_that_dies_before_answering_is_a_502(
    proxy: tuple[ProxyThread, int], web: Upstream
) -> None:
    async def die(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.transport.abort()

    web.answer = die
    _, port = proxy
    answer = exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert b"gave no answer" in answer


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n folded: continuation\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", b"400"),
        (b"GET /\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", b"431"),
    ],
    ids=["obs-fold", "space-before-colon", "http-0.9", "huge-head"],
)
def test_malformed_requests_are_refused_and_reach_nobody(
    proxy: tuple[ProxyThread, int], web: Upstream, request_bytes: bytes, status: bytes
) -> None:
    _, port = proxy
    answer = exchange(port, request_bytes)
    assert answer.split(b" ")[1] == status
    assert web.heads == []


def test_stopping_the_thread_closes_the_port_and_open_streams(events: Upstream) -> None:
    async def hold(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n: hi\n\n")
        await writer.drain()

    events.answer = hold
    sock = listening_socket(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    thread = ProxyThread(sock, web=("127.0.0.1", events.port), events=("127.0.0.1", events.port))
    thread.start()
    with socket.create_connection(("127.0.0.1", port), timeout=CEILING) as client:
        client.sendall(b"GET /events/x HTTP/1.1\r\nHost: x\r\n\r\n")
        while b": hi" not in client.recv(65536):
            pass
        thread.stop()
        client.settimeout(CEILING)
        rest = b""
        while chunk := client.recv(65536):  # EOF, not a hang
            rest += chunk
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=CEILING).close()
    assert isinstance(thread.proxy, Proxy)


def test_the_command_docker_compose_runs_routes_and_stops_on_sigterm(web: Upstream, events: Upstream) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "warroom.proxy",
            "--listen",
            f"127.0.0.1:{port}",
            "--web",
            f"127.0.0.1:{web.port}",
            "--events",
            f"127.0.0.1:{events.port}",
        ],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith(f"proxy: http://127.0.0.1:{port}/".encode())
        assert exchange(port, b"GET /events/x HTTP/1.1\r\nHost: x\r\n\r\n").endswith(b"events /events/x")
        assert exchange(port, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n").endswith(b"web /x")
        process.send_signal(signal.SIGTERM)  # what `docker compose stop` sends
        assert process.wait(CEILING) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
