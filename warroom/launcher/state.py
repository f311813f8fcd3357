"""The supervisor's state file (var/run/supervisor.json): written by the launcher, read by /healthz.

Standard library only: the web process imports this module, the launcher writes through it.

Why a file: the launcher never loads Django and the children are separate processes, so the count must
live outside both; a file written atomically (temp file + rename) next to the other var/ state is enough,
costs a stat and a small read per /healthz, and — unlike Redis — still answers while Redis is down,
which is exactly when someone looks at /healthz. The launcher removes it on exit; a file left by a killed
launcher is overwritten by the next one before any child starts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_state(path: Path, processes: Mapping[str, Mapping[str, Any]]) -> None:
    """Replace the file atomically: a reader sees the old or the new content, never half of one."""
    payload = {
        "launcher_pid": os.getpid(),
        "updated_at": now_iso(),
        "restarts": sum(int(p.get("restarts", 0)) for p in processes.values()),
        "processes": {name: dict(p) for name, p in processes.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    os.replace(temporary, path)


def read_state(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """What /healthz shows: total restarts and, per process, its restarts and last exit cause.

    None when there is no supervisor (docker-compose, tests) or the file is unreadable.
    """
    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        processes = {
            str(name): {
                "restarts": int(p.get("restarts", 0)),
                "running": bool(p.get("running", False)),
                "last_exit": p.get("last_exit"),
                "last_exit_at": p.get("last_exit_at"),
            }
            for name, p in dict(data["processes"]).items()
        }
        return {"restarts": int(data["restarts"]), "processes": processes}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def remove_state(path: Path) -> None:
    path.unlink(missing_ok=True)
