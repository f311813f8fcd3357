"""Figures for /events/stats: full garbage-collector pauses, and the process's threads and memory.
May import the standard library only (the hub hands its own figures in)."""

from __future__ import annotations

import gc
import os
import threading
import time
from typing import Any


class GCPauses:
    """Full (generation 2) collections stop the event loop, so every stream with it: count and time them.
    With 5,000 streams one took 130 ms before the startup objects were frozen (see get_hub)."""

    def __init__(self) -> None:
        self.full = 0
        self.full_ms_max = 0.0
        self.full_ms_total = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
            return
        ms = (time.perf_counter() - self._started) * 1000
        self.full += 1
        self.full_ms_total += ms
        self.full_ms_max = max(self.full_ms_max, ms)

    def stats(self) -> dict[str, Any]:
        return {
            "full_collections": self.full,
            "full_ms_max": round(self.full_ms_max, 1),
            "full_ms_total": round(self.full_ms_total, 1),
            "frozen_objects": gc.get_freeze_count(),
        }


gc_pauses = GCPauses()


def process_stats(hub: dict[str, Any] | None) -> dict[str, Any]:
    """For the bench and tests: what this process holds (`hub`: the hub's own figures, None before the first
    stream). Loopback clients only."""
    status: dict[str, int] = {}
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in {"Threads", "VmRSS"}:
                    status[key] = int(value.split()[0])
    except OSError:
        pass
    base = (
        hub
        if hub is not None
        else {
            "streams": 0,
            "incidents": 0,
            "users": 0,
            "redis": "not started",
            "db_pool": None,
            "counters": {},
        }
    )
    return {
        **base,
        "threads": status.get("Threads", threading.active_count()),
        "rss_kb": status.get("VmRSS"),
        "pid": os.getpid(),
    }
