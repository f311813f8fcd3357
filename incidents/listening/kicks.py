"""The on-commit kicks that start listening's Celery tasks, by task name.

Writers (ingest, watches) call these; they never import the task module, whose tasks import the writers:
the dependency points one way. A kick lost to a Redis outage only delays things until beat's sweep.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from celery import current_app

log = logging.getLogger(__name__)

_TASKS = "incidents.listening.tasks."
_last_kick: dict[str, float] = {}


def _debounced(name: str, seconds: float = 1.0) -> bool:
    now = time.monotonic()
    if now - _last_kick.get(name, -10.0) < seconds:
        return False
    _last_kick[name] = now
    return True


def send(task_name: str, *args: object, countdown: float = 0) -> None:
    try:
        if current_app.conf.task_always_eager:  # send_task ignores eager mode; the bench's web runs it
            current_app.tasks[_TASKS + task_name].apply(args=args)
        else:
            current_app.send_task(_TASKS + task_name, args=args, countdown=countdown, retry=False)
    except Exception:  # Redis down: the beat sweep catches up
        log.warning("Redis unavailable; the listening sweep will catch up.")


def kick_enrichment() -> None:
    # One task a second scores everything pending (a burst of deliveries becomes one task).
    if _debounced("enrich"):
        send("enrich_mentions_task", countdown=0.2)


def kick_spike_check(watch_ids: Sequence[int]) -> None:
    # Per watch set, at most once a second; the task runs a moment later so it sees the whole burst (and the
    # scoring that the enrichment kick started).
    if watch_ids and _debounced(f"spikes:{','.join(map(str, sorted(watch_ids)))}"):
        send("check_spikes_task", list(watch_ids), countdown=0.5)


def kick_poll(source_id: int) -> None:
    send("poll_source_task", source_id)
