"""Child processes, one copy for the benchmarks and the tests: a free port, waiting on a condition, a process in
its own session logging to a file, a private redis-server, and a server that is started, waited for and stopped
(`AsgiServer`: uvicorn serving warroom.asgi; bench/common.py builds gunicorn's `WebServer` on the same base).

It lives in bench/ because `python -m bench` runs without pytest, while tests may import bench (they never
need the reverse: tests/ is pytest's, with its fixtures and test database). Only the standard library is
imported at module level (redis-py inside functions), so it loads before Django is set up.

Every process runs in its own session (process group): a signal reaches everything it forked, it is stopped by
its own id, and the terminal's Ctrl-C never reaches it before we are ready to stop it. A failure shows what the
process said (its log).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

REPO = Path(__file__).resolve().parent.parent


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], bool], timeout: float, message: str, detail: Callable[[], str] | None = None
) -> float:
    """Poll `predicate` every 50 ms; return the seconds it took. After `timeout`, AssertionError with
    `message` and `detail()` (a log tail, say): in a test that is the test's failure."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{message} within {timeout:g} s\n{detail() if detail else ''}")
        time.sleep(0.05)
    return time.monotonic() - start


class Proc:
    """A subprocess in its own session, logging to `<tmp>/<name>.log` (appended to across restarts)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], tmp: Path) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.log = tmp / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} is not running"
        return self.proc.pid

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    def kill(self, sig: int = signal.SIGKILL, grace: float = 15.0) -> None:
        """Send `sig` to the whole group (pgid == pid: its own session); SIGKILL if it is not gone in `grace` s."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self) -> str:
        return self.text()[-3000:]

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.text().splitlines()[-lines:]) or "(no log)"


def redis_server_argv(port: int) -> list[str]:
    """A throwaway redis-server on loopback: no persistence, so a restart starts empty like a crash would."""
    return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]


class RedisServer:
    """A private redis-server on a free port, so a test or a benchmark can kill it without touching anyone
    else's. Logs into `tmp` if given, else into a temporary directory of its own that `close()` removes."""

    def __init__(self, tmp: Path | None = None) -> None:
        self._own_tmp = tmp is None
        self.tmp = tmp if tmp is not None else Path(tempfile.mkdtemp(prefix="warroom-redis-"))
        self.port = free_port()
        self.process = Proc("redis", redis_server_argv(self.port), dict(os.environ), self.tmp)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 10.0) -> None:
        import redis

        self.process.start()
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        try:
            wait_until(answers, timeout, "redis-server did not start", self.process.tail)
        finally:
            client.close()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.process.kill(sig)

    def close(self) -> None:
        self.kill(signal.SIGTERM)
        if self._own_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


class Server:
    """A server on a loopback port in its own session and temporary directory: `start()` returns once it
    answers (`ready()`), pinned to `cpu` if given; `stop()` ends it gracefully, `kill()` as a crash would.
    Subclasses say how to run it (`command()`) and how to tell it is up (`ready()`)."""

    name = "server"

    def __init__(
        self, env: dict[str, str], *, host: str = "127.0.0.1", port: int | None = None, cpu: int | None = None
    ) -> None:
        self.env = env
        self.host = host
        self.port = port or free_port(host)
        self.cpu = cpu
        self.tmp = Path(tempfile.mkdtemp(prefix=f"warroom-{self.name}-"))
        self.process = Proc(self.name, [], env, self.tmp)

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        """The running child, None when stopped."""
        return self.process.proc

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        # taskset execs the server in place, so the child's pid is the server's.
        return self.process.pid

    @property
    def log_path(self) -> Path:
        return self.process.log

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def pids(self) -> list[int]:
        """The processes to pin to `cpu` (a pre-forking server adds its workers)."""
        return [self.pid]

    def start(self, timeout: float = 30.0) -> None:
        argv = self.command()
        if self.cpu is not None and shutil.which("taskset"):
            argv = ["taskset", "-c", str(self.cpu), *argv]
        self.process.argv = argv
        self.process.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.proc
            assert proc is not None
            if proc.poll() is not None:
                code = proc.returncode
                raise RuntimeError(f"{self.name} exited with {code}:\n{self.log_tail()}")
            if self.ready():
                break
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError(f"{self.name} did not answer within {timeout:g} s:\n{self.log_tail()}")
        if self.cpu is not None:
            # taskset pinned it before it forked; make sure (also where taskset is missing).
            for pid in self.pids():
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(pid, {self.cpu})

    def stop(self) -> None:
        self.process.kill(signal.SIGTERM, grace=10.0)

    def kill(self) -> None:
        """SIGKILL, as a crash would: no graceful close of anything."""
        self.process.kill(signal.SIGKILL, grace=10.0)

    def restart(self) -> None:
        self.kill()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def get(
        self, path: str, headers: dict[str, str] | None = None, timeout: float = 5.0, method: str = "GET"
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def log_tail(self, lines: int = 40) -> str:
        return self.process.log_tail(lines)


# AsgiServer(profile=...) (the bench's BENCH_EVENTS_PROFILE=<file>): uvicorn under cProfile. uvicorn re-raises
# SIGTERM after its shutdown (no `finally` runs), so the profile is written on SIGUSR1, which stop() sends first.
_PROFILED = """
import cProfile, os, signal, sys
import uvicorn.main
profile, sys.argv = sys.argv[1], ["uvicorn", *sys.argv[2:]]
profiler = cProfile.Profile()
def dump(*_):
    profiler.disable()
    profiler.dump_stats(profile)
    os._exit(0)
signal.signal(signal.SIGUSR1, dump)
profiler.enable()
uvicorn.main.main()
"""


class AsgiServer(Server):
    """uvicorn serving warroom.asgi:application, exactly what production runs: pages through Django's ASGI
    handler, /events/ through the raw endpoint. One process, `--lifespan off`.

    `profile`: a file name; the process then runs under cProfile and writes `<profile>.<port>` when stopped.
    """

    name = "uvicorn"

    def __init__(
        self,
        env: dict[str, str],
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        cpu: int | None = None,
        extra_args: tuple[str, ...] = (),
        profile: str = "",
    ) -> None:
        super().__init__(env, host=host, port=port, cpu=cpu)
        self.extra_args = extra_args
        self.profile = f"{profile}.{self.port}" if profile else ""  # one file per server of a run

    def command(self) -> list[str]:
        return [
            sys.executable,
            *(["-c", _PROFILED, self.profile] if self.profile else ["-m", "uvicorn"]),
            "warroom.asgi:application",
            "--lifespan",
            "off",
            "--no-access-log",
            "--host",
            self.host,
            "--port",
            str(self.port),
            # Open streams never end by themselves; do not wait long for them on stop().
            "--timeout-graceful-shutdown",
            "1",
            *self.extra_args,
        ]

    def ready(self) -> bool:
        with contextlib.suppress(OSError, http.client.HTTPException):
            # 503 is an answer too: the process serves, only Redis is unreachable (a fault test).
            return self.get("/events/healthz", timeout=2)[0] in {200, 503}
        return False

    def stop(self) -> None:
        proc = self.proc
        if self.profile and proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGUSR1)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        super().stop()

    def stats(self) -> dict[str, Any]:
        """/events/stats of the running process."""
        status, _, body = self.get("/events/stats")
        if status != 200:
            raise RuntimeError(f"/events/stats answered {status}: {body[:200]!r}")
        return dict(json.loads(body))

    def wait_for_stats(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0, *, strict: bool = True
    ) -> dict[str, Any]:
        """Poll /events/stats until `predicate` holds. After `timeout`: AssertionError, or with
        strict=False the last figures (a benchmark reports what it got)."""
        deadline = time.monotonic() + timeout
        stats = self.stats()
        while not predicate(stats):
            if time.monotonic() > deadline:
                if not strict:
                    return stats
                raise AssertionError(f"events stats never matched within {timeout:g} s: {stats}")
            time.sleep(0.05)
            stats = self.stats()
        return stats


def run_child(module: str, job: dict[str, Any]) -> dict[str, Any]:
    """Run `python -m <module> --child` with `job` as JSON on stdin; return the JSON it prints. The stream
    scenarios measure in a process of their own (pinned, with its own event loop and sockets)."""
    done = subprocess.run(
        [sys.executable, "-m", module, "--child"],
        cwd=REPO,
        input=json.dumps(job),
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
        check=False,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} child failed with exit code {done.returncode}")
    return dict(json.loads(done.stdout))
