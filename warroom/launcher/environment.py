"""Ports, the development secret, where things are written (var/), and the environment the children get.

Imports output.py and probing.py only.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from warroom.launcher.output import say
from warroom.launcher.probing import LauncherError, Mode

DEFAULT_PORT = 8000  # the one origin browsers use: pages and /events/ (the proxy)
DEFAULT_EVENTS_PORT = 8001  # uvicorn behind the proxy, loopback only
DEFAULT_WEB_PORT = 8002  # gunicorn behind the proxy, loopback only


@dataclass(frozen=True)
class Ports:
    public: int
    web: int
    events: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.public}/"


@dataclass(frozen=True)
class VarPaths:
    """Everything `make run` writes lives under var/ (git-ignored)."""

    root: Path

    @property
    def embedded(self) -> Path:
        return self.root / "embedded"

    @property
    def secret_key(self) -> Path:
        return self.root / "dev-secret-key"

    @property
    def mail(self) -> Path:
        return self.root / "mail"

    @property
    def mailbox(self) -> Path:
        # Written by warroom.devmail (the e-mail backend the children get).
        return self.mail / "outbox.txt"

    @property
    def logs(self) -> Path:
        return self.root / "log"

    @property
    def state(self) -> Path:
        # The supervisor's view of the processes; /healthz includes it (SUPERVISOR_STATE_FILE).
        return self.root / "run" / "supervisor.json"

    def create(self) -> None:
        for directory in (self.root, self.mail, self.logs, self.state.parent):
            directory.mkdir(parents=True, exist_ok=True)


# --- ports --------------------------------------------------------------------------------------


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same option gunicorn and uvicorn set, so sockets lingering in TIME_WAIT do not count as busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def find_free_port(start: int, avoid: Collection[int] = (), attempts: int = 100) -> int:
    for port in range(start, min(start + attempts, 65536)):
        if port not in avoid and port_is_free(port):
            return port
    raise LauncherError(f"No free port between {start} and {start + attempts - 1}.")


def choose_port(variable: str, requested: str | None, default: int, avoid: Collection[int] = ()) -> int:
    """The port from `variable` if set (it must be free), else `default` or the next free one."""
    if requested:
        try:
            port = int(requested)
        except ValueError:
            raise LauncherError(f"{variable}={requested!r} is not a port number.") from None
        if port in avoid or not port_is_free(port):
            raise LauncherError(f"{variable}={port} is already in use; free it or choose another port.")
        return port
    port = find_free_port(default, avoid=avoid)
    if port != default:
        say(f"Port {default} is busy; using {port} instead (set {variable} to choose).")
    return port


def choose_ports(environ: Mapping[str, str]) -> Ports:
    public = choose_port("PORT", environ.get("PORT"), DEFAULT_PORT)
    events = choose_port("EVENTS_PORT", environ.get("EVENTS_PORT"), DEFAULT_EVENTS_PORT, avoid={public})
    web = choose_port("WEB_PORT", environ.get("WEB_PORT"), DEFAULT_WEB_PORT, avoid={public, events})
    return Ports(public=public, web=web, events=events)


# --- secret and environment ---------------------------------------------------------------------


def load_or_create_secret_key(path: Path) -> str:
    """A per-checkout development key, so sessions survive restarts without a key in the repo."""
    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
        if key:
            return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    return key


def child_environment(
    environ: Mapping[str, str],
    mode: Mode,
    *,
    public_port: int,
    var: VarPaths,
) -> dict[str, str]:
    """Environment for manage.py and the services: development defaults under the user's own values."""
    defaults = {
        "DEBUG": "true",
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        # E-mail links point at the port the proxy actually listens on (PORT may have moved it).
        "SITE_URL": f"http://127.0.0.1:{public_port}",
        # Development e-mails go to one file, not the terminal (hundreds at seed time buried the banner).
        "EMAIL_BACKEND": "warroom.devmail.EmailBackend",
        "EMAIL_FILE_PATH": str(var.mail),
        "DJANGO_SETTINGS_MODULE": "warroom.settings",
        # Children write into pipes; without this Python block-buffers and log lines arrive late.
        "PYTHONUNBUFFERED": "1",
    }
    env = {**defaults, **environ}
    # The mode already honours DATABASE_URL / REDIS_URL when usable; otherwise the embedded ones win.
    env["DATABASE_URL"] = mode.database_url
    env["REDIS_URL"] = mode.redis_url
    # Pages and /events/ share one origin under `make run` (the proxy); an inherited absolute EVENTS_URL
    # would send browsers elsewhere.
    env.pop("EVENTS_URL", None)
    # The supervisor's counts for /healthz; always ours, never an inherited path.
    env["SUPERVISOR_STATE_FILE"] = str(var.state)
    # settings read SECRET_KEY_FILE before SECRET_KEY, so a user's file also means "keep mine".
    if not (environ.get("SECRET_KEY") or environ.get("SECRET_KEY_FILE")):
        env["SECRET_KEY"] = load_or_create_secret_key(var.secret_key)
    return env
