"""The launcher's terminal: whole lines from many threads, coloured prefixes, and when it last spoke.

Imports nothing from the rest of the launcher (every other module imports this one).
"""

from __future__ import annotations

import os
import sys
import threading
import time

# Reader threads of the children and the main thread all print; whole lines must not interleave.
# Only ever taken by ordinary code, never by a signal handler (see stopping.py).
_output_lock = threading.Lock()
# When the terminal last got a line (time.monotonic()). A plain float written under the lock and read
# without it: the supervisor only wants to know whether the children have gone quiet.
_last_output_at = 0.0
_lines_said = 0


def say(message: str = "") -> None:
    global _last_output_at, _lines_said
    with _output_lock:
        print(message, flush=True)
        _last_output_at = time.monotonic()
        _lines_said += 1


def lines_said() -> int:
    """How many times say() has printed so far (a banner can tell whether it is still the last thing)."""
    return _lines_said


def quiet_for() -> float:
    """Seconds since the last line was printed."""
    return time.monotonic() - _last_output_at


def use_color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""
