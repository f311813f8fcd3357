"""Run the real `make run` launcher (python -m warroom.launcher) from a test: its own database, a private
redis-server, its own var/ directory and ports; helpers to read what it printed and which processes it runs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

REPO = Path(__file__).resolve().parent.parent
STARTUP_CEILING = 300.0  # a fresh migrate and seed on a loaded 2-core machine
CEILING = 90.0
RULE = "=" * 72
# Only what a shell gives any user: nothing of pytest's own environment (DJANGO_SETTINGS_MODULE, …).
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYENV_VERSION")

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], Any], what: str, timeout: float = CEILING) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def http_get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    """(status, body); status 0 when nothing answered."""
    try:
        with _opener.open(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(") ", 1)[1][0] != "Z"  # a zombie awaiting its reaper counts as gone
    except (FileNotFoundError, IndexError):
        return False


def descendants(root: int) -> set[int]:
    """Every process below `root`, whatever session or group it moved to."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(") ", 1)[1].split()[1])
        except (FileNotFoundError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


@dataclass
class Launched:
    process: subprocess.Popen[bytes]
    log: Path
    var: Path
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for_output(self, text: str, timeout: float = CEILING, start: int = 0) -> int:
        """Position just after the first `text` printed at or after `start`."""

        def found() -> int:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the launcher exited ({self.process.returncode}):\n{self.output()[-4000:]}"
                )
            at = self.output().find(text, start)
            return at + len(text) if at >= 0 else 0

        return int(wait_for(found, repr(text), timeout))

    def state(self) -> dict[str, Any]:
        data = json.loads((self.var / "run" / "supervisor.json").read_text())
        assert isinstance(data, dict)
        return data

    def pid_of(self, name: str) -> int:
        return int(self.state()["processes"][name]["pid"])

    def get(self, path: str) -> tuple[int, bytes]:
        return http_get(self.base + path)

    def stop(self) -> None:
        """Ctrl-C, as a person would; whatever is left after the ceiling is killed (and the test failed)."""
        below = descendants(self.process.pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(CEILING)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in below:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def launch(*, var: Path, database_url: str, redis_url: str, port: int | None = None) -> Launched:
    var.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    env |= {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PORT": str(port),
        "EVENTS_PORT": str(free_port()),
        "WEB_PORT": str(free_port()),
        "VAR_DIR": str(var),
    }
    log = var / "terminal.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "warroom.launcher"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # as `make run` in a terminal: a group of its own
        )
    return Launched(process=process, log=log, var=var, port=port)


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        wait_for(lambda: socket_open(port), "redis-server", 30)
        yield url
    finally:
        server.terminate()
        server.wait(30)


def socket_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@contextlib.contextmanager
def stack_database() -> Iterator[str]:
    """A database of its own, next to this checkout's (DATABASE_URL), dropped afterwards."""
    base = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/warroom"
    name = f"{conninfo_to_dict(base).get('dbname') or 'warroom'}_stack"
    url = base.rsplit("/", 1)[0] + "/" + name

    def drop() -> None:
        with psycopg.connect(base, dbname="postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    drop()  # the launcher creates it, as on a fresh machine
    try:
        yield url
    finally:
        drop()


class Flood:
    """SIGINT and SIGTERM, alternating, as fast as two threads can send them, at a process and its group
    (what `timeout`, a supervisor or a double Ctrl-C do, without the pauses)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.sent = 0
        self._done = threading.Event()
        self._threads = [threading.Thread(target=self._fire, args=(group,)) for group in (False, True)]

    def __enter__(self) -> Flood:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        for thread in self._threads:
            thread.join()

    def _fire(self, group: bool) -> None:
        signals = (signal.SIGINT, signal.SIGTERM)
        i = 0
        while not self._done.is_set():
            try:
                (os.killpg if group else os.kill)(self.pid, signals[i % 2])
            except ProcessLookupError:
                return
            i += 1
            self.sent += 1
