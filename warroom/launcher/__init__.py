"""`make run`: one command for the whole war room (probe or embed PostgreSQL/Redis, migrate, seed, then run
web, events, worker and beat behind one origin, supervised, until Ctrl-C). Never imports Django.

Modules, each importing only those above it: output → probing → environment → stopping → embedded,
processes → state → supervisor, banner → main (+ warroom.proxy). This package re-exports the public names.
"""

from __future__ import annotations

from warroom.launcher.banner import banner_lines, demo_login_lines, http_ok, print_banner, wait_until_healthy
from warroom.launcher.embedded import (
    EmbeddedServices,
    embedded_packages_installed,
    install_embedded_group,
    start_embedded,
)
from warroom.launcher.environment import (
    DEFAULT_EVENTS_PORT,
    DEFAULT_PORT,
    DEFAULT_WEB_PORT,
    Ports,
    VarPaths,
    child_environment,
    choose_port,
    choose_ports,
    find_free_port,
    load_or_create_secret_key,
    port_is_free,
)
from warroom.launcher.main import REPO_ROOT, main, run
from warroom.launcher.probing import (
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    LauncherError,
    Mode,
    check_postgres,
    check_redis,
    choose_mode,
    database_name,
    ensure_database,
    with_database,
)
from warroom.launcher.processes import (
    Service,
    build_services,
    describe_exit,
    first_exited,
    run_setup_steps,
    start_services,
    stop_services,
)
from warroom.launcher.state import read_state, write_state
from warroom.launcher.stopping import StopFlag, StopSignal, run_interruptibly
from warroom.launcher.supervisor import Backoff, Supervisor

__all__ = [
    "DEFAULT_DATABASE_URL",
    "DEFAULT_EVENTS_PORT",
    "DEFAULT_PORT",
    "DEFAULT_REDIS_URL",
    "DEFAULT_WEB_PORT",
    "REPO_ROOT",
    "Backoff",
    "EmbeddedServices",
    "LauncherError",
    "Mode",
    "Ports",
    "Service",
    "StopFlag",
    "StopSignal",
    "Supervisor",
    "VarPaths",
    "banner_lines",
    "build_services",
    "check_postgres",
    "check_redis",
    "child_environment",
    "choose_mode",
    "choose_port",
    "choose_ports",
    "database_name",
    "demo_login_lines",
    "describe_exit",
    "embedded_packages_installed",
    "ensure_database",
    "find_free_port",
    "first_exited",
    "http_ok",
    "install_embedded_group",
    "load_or_create_secret_key",
    "main",
    "port_is_free",
    "print_banner",
    "read_state",
    "run",
    "run_interruptibly",
    "run_setup_steps",
    "start_embedded",
    "start_services",
    "stop_services",
    "wait_until_healthy",
    "with_database",
    "write_state",
]
