"""The one seam between listening and the live push path (issue #15, not built yet).

Every listening change that a page shows calls `changed(region=…)` inside its transaction; after commit the
change is handed to whatever `connect()`ed to it. Today nothing is connected: pages learn about changes by
asking a cheap version endpoint every few seconds (views/room.py `mentions_version`, views/monitoring.py),
and spike alerts reach people through `notify()` (bell, e-mail). The lead connects the per-person and
per-incident nudge channel here, and the pages' polling can then go.

Regions: "mentions" (charts and lists of the given watches), "queue" (an incident's response queue),
"alerts" (spike alerts), "sources" (source health).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    region: str
    incident_id: int | None = None
    watch_ids: tuple[int, ...] = ()
    alert_id: int | None = None


Listener = Callable[[Change], None]
_listeners: list[Listener] = []


def connect(listener: Listener) -> None:
    """Called once at start-up by whoever delivers nudges (e.g. the events process's publisher)."""
    if listener not in _listeners:
        _listeners.append(listener)


def disconnect(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def changed(
    *,
    region: str,
    incident_id: int | None = None,
    watch_ids: Iterable[int] = (),
    alert_id: int | None = None,
) -> None:
    """Announce a change once it is committed (a rolled-back change announces nothing)."""
    change = Change(
        region=region, incident_id=incident_id, watch_ids=tuple(sorted(set(watch_ids))), alert_id=alert_id
    )

    def deliver() -> None:
        for listener in list(_listeners):
            try:
                listener(change)
            except Exception:  # a broken push path must never fail the write that already committed
                log.warning("Listening change listener failed for %s", change, exc_info=True)

    transaction.on_commit(deliver)
