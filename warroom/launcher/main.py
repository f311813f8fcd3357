"""`make run` from start to Ctrl-C: services to use, setup steps, the proxy, the supervised processes, the banner.

Imports every other launcher module and warroom.proxy; never Django (only the children load settings).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

import psycopg

from warroom.launcher.banner import http_ok, print_banner
from warroom.launcher.embedded import install_embedded_group, start_embedded
from warroom.launcher.environment import VarPaths, child_environment, choose_ports
from warroom.launcher.output import first_line, say
from warroom.launcher.probing import LauncherError, choose_mode, database_name, ensure_database
from warroom.launcher.processes import build_services, run_setup_steps, stop_services
from warroom.launcher.state import remove_state
from warroom.launcher.stopping import StopFlag, StopSignal
from warroom.launcher.supervisor import Supervisor
from warroom.proxy import ProxyThread, listening_socket

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DEV_MAIL_BACKEND = "warroom.devmail.EmailBackend"


def run(repo: Path, environ: Mapping[str, str], stop: StopFlag, cleanup: contextlib.ExitStack) -> int:
    # VAR_DIR: a second launcher of the same checkout (the tests) keeps its state apart from yours.
    var = VarPaths(Path(environ.get("VAR_DIR") or repo / "var").resolve())
    var.create()
    mode = choose_mode(environ)
    for note in mode.notes:
        say(note)
    say(mode.describe())
    if mode.uses_embedded:
        install_embedded_group(repo, stop)
        if stop.is_set():
            return 0
        try:
            mode, embedded = start_embedded(mode, var.embedded)
        except LauncherError:
            raise
        except Exception as exc:
            raise LauncherError(f"Could not start the embedded services: {exc}") from exc
        cleanup.callback(embedded.stop)
    try:
        if ensure_database(mode.database_url):
            say(f"Created database {database_name(mode.database_url)!r}.")
    except psycopg.Error as exc:
        raise LauncherError(f"Could not create the database: {first_line(str(exc))}") from exc

    ports = choose_ports(environ)
    # Bound now and held, so nothing takes the public port during the setup steps. Until the services are
    # up, a browser's request waits a few seconds in the proxy and then gets a 502 that says why.
    try:
        sock = listening_socket(("127.0.0.1", ports.public))
    except OSError as exc:
        raise LauncherError(f"Could not listen on port {ports.public}: {exc}") from exc
    proxy = ProxyThread(sock, web=("127.0.0.1", ports.web), events=("127.0.0.1", ports.events))
    proxy.start()
    cleanup.callback(proxy.stop)

    env = child_environment(environ, mode, public_port=ports.public, var=var)
    if not run_setup_steps(repo, env, stop):
        say("Interrupted.")
        return 0

    services = build_services(ports, var)
    mailbox = var.mailbox if env.get("EMAIL_BACKEND") == DEV_MAIL_BACKEND else None

    def announce(healthy: bool) -> None:
        print_banner(
            ports.url,
            mode,
            healthy=healthy,
            mailbox=mailbox,
            access_log=var.logs / "access.log",
            restarts=services,
        )

    def ready() -> bool:
        # Through the proxy: what a browser reaches, pages and streams alike.
        return http_ok(ports.url + "healthz") and http_ok(ports.url + "events/healthz")

    # Callbacks run in reverse order: the processes stop first, then the state file goes, then the proxy.
    cleanup.callback(remove_state, var.state)
    cleanup.callback(stop_services, services)
    supervisor = Supervisor(
        services, env=env, cwd=repo, stop=stop, state_file=var.state, announce=announce, ready=ready
    )
    supervisor.start()
    supervisor.run()
    say("Stopping ...")
    return 0


def main() -> int:
    stop = StopSignal()
    stop.install()
    # Callbacks run in reverse order: services stop before the embedded servers they talk to.
    cleanup = contextlib.ExitStack()
    try:
        return run(REPO_ROOT, os.environ, stop, cleanup)
    except LauncherError as exc:
        say(f"Error: {exc}")
        return 1
    finally:
        cleanup.close()
        say("Stopped.")
