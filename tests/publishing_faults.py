"""Fault injection for tests/test_publishing_celery.py, imported by a test worker (`-I tests.publishing_faults`).

With WARROOM_TEST_PUBLISH_KILL set to a file path, the worker kills itself (SIGKILL: no goodbye to PostgreSQL,
Redis or the platform) right after a connector has sent and before the outcome is recorded — the one moment
a second post could come from. It happens once: the file it leaves behind stops the restarted worker doing it
again.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from incidents.publishing import delivery

MARKER = os.environ.get("WARROOM_TEST_PUBLISH_KILL", "")
_record = delivery.record


def record(claimed: Any, outcome: Any) -> Any:
    if MARKER and not Path(MARKER).exists():
        Path(MARKER).write_text(f"killed after sending delivery {claimed.pk}: {outcome!r}\n")
        os.kill(os.getpid(), signal.SIGKILL)
    return _record(claimed, outcome)


if MARKER:
    delivery.record = record
