"""The supervisor: restarts a service that dies (with back-off), records why, and says when the stack is ready.

Imports output.py, probing.py, processes.py, state.py and stopping.py.

Only a stop request (Ctrl-C / SIGTERM, see stopping.py) ends the loop; a dying child never stops the
others. The loop polls exits every `poll_interval` seconds but sleeps on the stop pipe, so a stop is seen
at once.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warroom.launcher.output import lines_said, quiet_for, say
from warroom.launcher.probing import LauncherError
from warroom.launcher.processes import Service, describe_exit, name_width
from warroom.launcher.state import now_iso, write_state
from warroom.launcher.stopping import StopFlag


@dataclass(frozen=True)
class Backoff:
    """Delay before restart number n of a service that keeps dying: 1, 2, 4, … s, at most `ceiling`."""

    first: float = 1.0
    factor: float = 2.0
    ceiling: float = 30.0
    # A run at least this long counts as healthy: the next death starts the back-off from `first` again.
    stable_after: float = 60.0

    def delay(self, failures: int) -> float:
        return min(self.ceiling, self.first * self.factor ** max(0, failures - 1))


class Supervisor:
    """Keeps `services` running until `stop` is set.

    `announce(healthy)` is called after start and after every restart, when every service runs, the
    terminal has been quiet for `quiet_seconds` (so the banner is the last thing on screen) and `ready()`
    answers — or `ready_timeout` seconds have passed, with healthy=False. A process that speaks up late
    (Celery's first words come seconds after its start) gets the banner printed again below it, for
    `settle_seconds` after the start or restart; after that, what the processes print stays last.
    """

    def __init__(
        self,
        services: list[Service],
        *,
        env: Mapping[str, str],
        cwd: Path,
        stop: StopFlag,
        state_file: Path | None = None,
        backoff: Backoff = Backoff(),
        poll_interval: float = 0.25,
        announce: Callable[[bool], None] | None = None,
        ready: Callable[[], bool] | None = None,
        quiet_seconds: float = 1.0,
        ready_timeout: float = 30.0,
        settle_seconds: float = 20.0,
    ) -> None:
        self.services = services
        self.env = env
        self.cwd = cwd
        self.stop = stop
        self.state_file = state_file
        self.backoff = backoff
        self.poll_interval = poll_interval
        self.announce = announce
        self.ready = ready
        self.quiet_seconds = quiet_seconds
        self.ready_timeout = ready_timeout
        self.settle_seconds = settle_seconds
        self.width = name_width(services)
        self._announce_due: float | None = None
        self._settle_until = 0.0
        self._lines_after_banner = -1
        self._last_exit_at: dict[str, str] = {}

    # --- public ---------------------------------------------------------------------------------

    def start(self) -> None:
        for service in self.services:
            service.start(self.env, self.cwd, self.width)
        self._due(time.monotonic())
        self.write_state()

    def run(self) -> None:
        """Supervise until a stop is requested."""
        while not self.stop.wait(self.poll_interval):
            self.step(time.monotonic())

    def step(self, now: float) -> None:
        for service in self.services:
            if service.restart_at is None:
                code = service.exit_code()
                if code is not None:
                    self._died(service, code, now)
            elif now >= service.restart_at:
                self._restart(service, now)
        self._maybe_announce(now)

    @property
    def restarts(self) -> int:
        return sum(service.restarts for service in self.services)

    def write_state(self) -> None:
        if self.state_file is None:
            return
        processes: dict[str, dict[str, Any]] = {
            service.name: {
                "pid": service.pid,
                "running": service.restart_at is None and service.running(),
                "restarts": service.restarts,
                "last_exit": service.last_exit,
                "last_exit_at": self._last_exit_at.get(service.name),
            }
            for service in self.services
        }
        try:
            write_state(self.state_file, processes)
        except OSError as exc:  # a full disk must not take the stack down
            say(f"Could not write {self.state_file}: {exc}")

    # --- internals ------------------------------------------------------------------------------

    def _died(self, service: Service, code: int, now: float) -> None:
        ran = now - service.started_at
        # The leader is gone; what it forked (gunicorn workers, Celery's pool) may still hold its port or
        # its queue. The group outlives its leader, so one killpg reaches them.
        service.signal_group(signal.SIGKILL)
        if service.reader is not None:
            service.reader.join(timeout=2)  # its last words come before ours
        service.failures = 1 if ran >= self.backoff.stable_after else service.failures + 1
        delay = self.backoff.delay(service.failures)
        service.last_exit = describe_exit(code)
        self._last_exit_at[service.name] = now_iso()
        service.restart_at = now + delay
        say(
            f"{service.name} stopped unexpectedly ({service.last_exit}) after {ran:.0f} s; "
            f"restarting it in {delay:g} s."
        )
        self.write_state()

    def _restart(self, service: Service, now: float) -> None:
        service.restarts += 1
        try:
            service.start(self.env, self.cwd, self.width)
        except LauncherError as exc:
            service.failures += 1
            delay = self.backoff.delay(service.failures)
            service.restart_at = now + delay
            say(f"{exc} Trying again in {delay:g} s.")
        else:
            say(f"{service.name} restarted (pid {service.pid}; restart {service.restarts}).")
            self._due(now)
        self.write_state()

    def _due(self, now: float) -> None:
        self._announce_due = now
        self._settle_until = now + self.settle_seconds

    def _maybe_announce(self, now: float) -> None:
        if self.announce is None:
            return
        if self._announce_due is None:
            # Printed, but something came after it while the processes were still settling: again.
            if now >= self._settle_until or lines_said() == self._lines_after_banner:
                return
            self._announce_due = now
        if not all(service.restart_at is None for service in self.services):
            return  # a restart is pending; announce once it has happened
        waited = now - self._announce_due
        if waited < self.ready_timeout:
            if quiet_for() < self.quiet_seconds:
                return
            if self.ready is not None and not self.ready():
                return
            healthy = True
        else:
            healthy = self.ready is None or self.ready()
        self._announce_due = None
        self.announce(healthy)
        self._lines_after_banner = lines_said()
