"""Ctrl-C and SIGTERM: a stop flag whose signal handler takes no lock, and one-off commands a stop interrupts.

Imports nothing from the rest of the launcher.

Why not threading.Event: Event.set() takes the lock of the Condition the main loop waits on. A second
signal arriving while the first handler is inside notify_all() runs the handler again in the same thread,
and the nested set() blocks forever on that (non-reentrant) lock — the launcher hung with every service
still running. Here the handler only stores True in an attribute; the wake-up comes from the C-level
signal machinery writing the signal number into a pipe (signal.set_wakeup_fd), which the main loop
select()s on. However many signals arrive, however close together, nothing can block.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Protocol

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
TERMINATE_GRACE_SECONDS = 10.0


class StopFlag(Protocol):
    """What the launcher's loops need from a stop request; threading.Event fits too (tests use it)."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class StopSignal:
    """Set by Ctrl-C / SIGTERM (after install()) or by set(); waited on with select() on a self-pipe."""

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self.requested = False
        # Signals seen so far, counted from the bytes in the pipe (diagnostics; never touched by a handler).
        self.signals_seen = 0
        self._installed = False

    def install(self) -> None:
        """Route SIGINT and SIGTERM here. Main thread only (set_wakeup_fd and signal() require it)."""
        # The C handler writes the signal number into the pipe before any Python code runs; a full pipe
        # only drops bytes (we need one), hence no warning for it.
        signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._handler)
        self._installed = True

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        # A plain attribute store: no lock, no I/O, no allocation worth the name. Re-entrant by nature.
        self.requested = True

    def set(self) -> None:
        """Request a stop from ordinary code (never from a signal handler: that is what install() is for)."""
        self.requested = True
        with contextlib.suppress(BlockingIOError):
            os.write(self._write_fd, b"\0")

    def is_set(self) -> bool:
        if not self.requested:
            self._drain()
        if self.requested and self._installed:
            self._disarm()
        return self.requested

    def _disarm(self) -> None:
        """Once a stop is under way, further Ctrl-C / SIGTERM are ignored by the kernel.

        A flood of signals would otherwise keep interrupting the stop: each one runs a handler frame,
        and handlers nest when signals arrive faster than one returns (the old Event.set() handler died
        of RecursionError under a flood). Stopping is bounded anyway (SIGKILL after the grace period),
        and no child is started after this point, so none inherits the ignored disposition.
        """
        self._installed = False
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until a stop is requested or `timeout` passes; True if a stop was requested."""
        if self.is_set():
            return True
        # select() is retried by Python after a signal (PEP 475), but the wake-up byte is already in the
        # pipe by then, so it returns at once. The byte, not the handler, decides: the handler of a signal
        # that landed on another thread may not have run yet when select() returns.
        select.select([self._read_fd], [], [], timeout)
        return self.is_set()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self._read_fd, 512)
            except BlockingIOError:
                return
            if not data:
                return
            self.signals_seen += sum(1 for byte in data if byte)
            self.requested = True


def signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """Signal the process group a child leads (it was started in a session of its own)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def terminate_group(process: subprocess.Popen[bytes], grace: float = TERMINATE_GRACE_SECONDS) -> bool:
    """SIGTERM the group, SIGKILL it after `grace` seconds. True if it had to be killed."""
    signal_group(process, signal.SIGTERM)
    killed = False
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        killed = True
    # Also reaches what the leader forked and left behind.
    signal_group(process, signal.SIGKILL)
    process.wait()
    return killed


def run_interruptibly(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], stop: StopFlag, poll: float = 0.2
) -> int | None:
    """Run a one-off command with the terminal as its output; None if a stop interrupted it.

    The command gets a session of its own, so Ctrl-C in the terminal reaches only the launcher, which then
    ends it — the same whether the signal came from the terminal, `kill` or a process-group signal.
    """
    process = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), start_new_session=True)
    try:
        while process.poll() is None:
            if stop.wait(poll):
                terminate_group(process)
                return None
    except BaseException:
        terminate_group(process)
        raise
    return process.returncode
