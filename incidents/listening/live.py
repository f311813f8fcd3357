"""The one seam between listening and the live push path.

Every listening change that a page shows calls `changed(region=…)` inside its transaction; after commit the
changes are handed to whatever `connect()`ed to it — `incidents.listening.push` (connected by the app's
`ready()`), which turns them into nudges for the pages' live regions. Changes are collected per
transaction and merged by (region, incident, alert), the watches joined: however many times a transaction
calls `changed()` (a webhook batch, a moderation sweep), each region hears once after its commit.

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


class _Batch:
    """The changes one transaction announced, merged, waiting for its commit."""

    def __init__(self) -> None:
        self.changes: dict[tuple[str, int | None, int | None], set[int]] = {}
        self.callback: Callable[[], None] | None = None

    def add(self, change: Change) -> None:
        self.changes.setdefault((change.region, change.incident_id, change.alert_id), set()).update(
            change.watch_ids
        )

    def deliver(self) -> None:
        for (region, incident_id, alert_id), watch_ids in self.changes.items():
            _deliver(
                Change(
                    region=region,
                    incident_id=incident_id,
                    watch_ids=tuple(sorted(watch_ids)),
                    alert_id=alert_id,
                )
            )


def _deliver(change: Change) -> None:
    for listener in list(_listeners):
        try:
            listener(change)
        except Exception:  # a broken push path must never fail the write that already committed
            log.warning("Listening change listener failed for %s", change, exc_info=True)


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
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        _deliver(change)  # autocommit: it is committed already
        return
    batch: _Batch | None = getattr(connection, "_listening_batch", None)
    # The batch is the transaction's while its callback is still queued: a rollback (of the transaction, or of
    # the savepoint that queued it) drops the callback, and the next change starts a new batch.
    if batch is None or not any(func is batch.callback for _, func, _ in connection.run_on_commit):
        batch = _Batch()
        fresh = batch

        def callback() -> None:
            if getattr(connection, "_listening_batch", None) is fresh:
                connection._listening_batch = None
            fresh.deliver()

        batch.callback = callback
        connection._listening_batch = batch
        transaction.on_commit(callback)
    batch.add(change)
