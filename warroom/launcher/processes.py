"""The child processes: setup steps (migrate, collectstatic, seed) and the four services, started, shown, stopped.

Imports output.py, probing.py, environment.py and stopping.py.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from warroom.launcher.environment import Ports, VarPaths
from warroom.launcher.output import say, use_color
from warroom.launcher.probing import LauncherError
from warroom.launcher.stopping import StopFlag, run_interruptibly
from warroom.launcher.stopping import signal_group as _signal_group

STOP_TIMEOUT_SECONDS = 10.0

SETUP_STEPS: tuple[tuple[str, ...], ...] = (
    ("migrate", "--noinput"),
    ("collectstatic", "--noinput", "-v0"),
    ("seed_demo",),
)


def run_setup_steps(repo: Path, env: Mapping[str, str], stop: StopFlag) -> bool:
    """migrate, collectstatic, seed_demo. False if a stop interrupted them; LauncherError if one failed."""
    for step in SETUP_STEPS:
        if stop.is_set():
            return False
        say(f"==> manage.py {' '.join(step)}")
        code = run_interruptibly([sys.executable, "manage.py", *step], cwd=repo, env=env, stop=stop)
        if code is None or stop.is_set():
            return False
        if code != 0:
            raise LauncherError(f"Setup step '{step[0]}' failed (exit code {code}).")
    return True


# --- services -----------------------------------------------------------------------------------


@dataclass
class Service:
    """One long-running child process whose output is shown with a `name | ` prefix.

    The supervisor restarts it when it dies; the counters below are its record of that.
    """

    name: str
    argv: list[str]
    color: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    reader: threading.Thread | None = field(default=None, repr=False)
    started_at: float = 0.0  # time.monotonic() of the latest start
    restarts: int = 0
    failures: int = 0  # deaths since the last run that lasted (sets the back-off)
    restart_at: float | None = None  # time.monotonic() of a scheduled restart
    last_exit: str | None = None

    def start(self, env: Mapping[str, str], cwd: Path, name_width: int = 6) -> None:
        try:
            # A session of its own: Ctrl-C in the terminal reaches only the launcher, which then stops
            # every service in order, and killpg() also reaches workers the service forked.
            self.process = subprocess.Popen(
                self.argv,
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise LauncherError(f"Could not start {self.name} ({self.argv[0]}): {exc}") from exc
        self.started_at = time.monotonic()
        self.restart_at = None
        assert self.process.stdout is not None
        self.reader = threading.Thread(
            target=_copy_output,
            args=(self.process.stdout, self.prefix(name_width)),
            name=f"{self.name}-output",
            daemon=True,
        )
        self.reader.start()

    def prefix(self, name_width: int) -> str:
        label = f"{self.name:<{name_width}} | "
        if self.color and use_color():
            return f"\033[{self.color}m{label}\033[0m"
        return label

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, signum: int) -> None:
        if self.process is not None:
            _signal_group(self.process, signum)


def _copy_output(stream: IO[bytes], prefix: str) -> None:
    with stream:
        for raw in iter(stream.readline, b""):
            say(prefix + raw.decode("utf-8", errors="replace").rstrip("\r\n"))


def build_services(ports: Ports, var: VarPaths) -> list[Service]:
    """web (gunicorn) and events (uvicorn) on loopback behind the proxy, worker and beat (Celery)."""
    bin_dir = Path(sys.executable).parent
    return [
        Service(
            "web",
            [
                str(bin_dir / "gunicorn"),
                "warroom.wsgi:application",
                "--bind",
                f"127.0.0.1:{ports.web}",
                "--workers",
                "2",
                # One line per request would push the banner off screen within seconds of opening a page.
                "--access-logfile",
                str(var.logs / "access.log"),
                # Its own control socket, so a second gunicorn on this machine does not clash with it.
                "--control-socket",
                str(var.root / "gunicorn.ctl"),
            ],
            color="32",
        ),
        Service(
            "events",
            [
                str(bin_dir / "uvicorn"),
                "warroom.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(ports.events),
                "--lifespan",
                "off",
                "--no-access-log",
                # Open SSE streams never end by themselves; without this uvicorn waits for them on Ctrl-C.
                "--timeout-graceful-shutdown",
                "3",
            ],
            color="36",
        ),
        Service(
            "worker",
            # -q: no startup banner; warning: every periodic task otherwise logs two lines every few
            # seconds. Failures are logged at ERROR and still show.
            [str(bin_dir / "celery"), "-A", "warroom", "-q", "worker", "-l", "warning", "--concurrency", "2"],
            color="33",
        ),
        Service(
            "beat",
            [
                str(bin_dir / "celery"),
                "-A",
                "warroom",
                "-q",
                "beat",
                "-l",
                "warning",
                "--schedule",
                str(var.root / "celerybeat-schedule"),
            ],
            color="35",
        ),
    ]


def name_width(services: Iterable[Service]) -> int:
    return max((len(service.name) for service in services), default=0)


def start_services(services: Iterable[Service], env: Mapping[str, str], cwd: Path) -> None:
    services = list(services)
    width = name_width(services)
    for service in services:
        service.start(env, cwd, width)


def stop_services(services: Iterable[Service], timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM every process group, SIGKILL whatever is still there after `timeout` seconds."""
    running = [service for service in services if service.process is not None]
    for service in running:
        service.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for service in running:
        assert service.process is not None
        try:
            service.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{service.name} did not stop within {timeout:.0f} s; killing it.")
    for service in running:
        assert service.process is not None
        # Also catches workers orphaned by a leader that exited first, so nothing keeps a port open.
        service.signal_group(signal.SIGKILL)
        service.process.wait()
    for service in running:
        if service.reader is not None:
            service.reader.join(timeout=2)


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def first_exited(services: Iterable[Service]) -> Service | None:
    for service in services:
        if service.restart_at is None and service.exit_code() is not None:
            return service
    return None
