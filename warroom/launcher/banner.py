"""What `make run` shows once the stack is ready (URL, mode, logins, where mail and logs go) and the health probe.

Imports output.py, probing.py, stopping.py and processes.py; incidents.demo_accounts lazily (no Django).
"""

from __future__ import annotations

import importlib
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from warroom.launcher.output import say
from warroom.launcher.probing import Mode
from warroom.launcher.processes import Service, first_exited
from warroom.launcher.stopping import StopFlag

HEALTH_TIMEOUT_SECONDS = 30.0
RULE = "=" * 72

# An http_proxy in the user's environment must not swallow requests to 127.0.0.1.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_ok(url: str, timeout: float = 3.0) -> bool:
    """True if `url` answers 2xx within `timeout` seconds."""
    try:
        with _opener.open(url, timeout=timeout) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_until_healthy(
    url: str,
    stop: StopFlag,
    services: list[Service],
    timeout: float = HEALTH_TIMEOUT_SECONDS,
) -> bool:
    """Poll `url` until it answers 2xx. False on timeout, on stop, or when a service died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stop.is_set() or first_exited(services) is not None:
            return False
        # Generous: the first request waits for Django to load in a freshly booted worker.
        if http_ok(url, timeout=3):
            return True
        stop.wait(0.5)
    return False


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
    lines.append("Second factor: `make code EMAIL=maja@northwind.example` prints that login's current code")
    return lines


def _shown(path: Path) -> str:
    """A path relative to the working directory when it lies below it (shorter, and what `make` users see)."""
    try:
        return str(path.relative_to(Path(os.getcwd())))
    except ValueError:
        return str(path)


def banner_lines(
    url: str,
    mode: Mode,
    *,
    healthy: bool = True,
    mailbox: Path | None = None,
    access_log: Path | None = None,
    restarts: Iterable[Service] = (),
) -> list[str]:
    """The block that ends the terminal: logins first, the URL last (where the eye lands)."""
    lines = [RULE, *demo_login_lines()]
    if mailbox is not None:
        lines.append(f"E-mails (not sent, development): {_shown(mailbox)}")
    if access_log is not None:
        lines.append(f"Request log: {_shown(access_log)}")
    restarted = [s for s in restarts if s.restarts]
    if restarted:
        lines.append(
            "Restarts: "
            + ", ".join(f"{s.name} {s.restarts} (last: {s.last_exit or 'unknown cause'})" for s in restarted)
        )
    lines.append(mode.describe())
    if not healthy:
        lines.append(f"Warning: {url}healthz does not answer yet; see the messages above.")
    lines += [f"Crisis War Room: {url}", "Press Ctrl-C to stop everything.", RULE]
    return lines


def print_banner(
    url: str,
    mode: Mode,
    *,
    healthy: bool = True,
    mailbox: Path | None = None,
    access_log: Path | None = None,
    restarts: Iterable[Service] = (),
) -> None:
    lines = banner_lines(
        url, mode, healthy=healthy, mailbox=mailbox, access_log=access_log, restarts=restarts
    )
    say("\n".join(lines))
