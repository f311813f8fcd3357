"""Shared test helpers: snapshots for "nothing changed" checks, a thread race runner, a held row lock."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import connection, transaction

T = TypeVar("T")

DOMAIN_TABLES = ["incidents_incident", "incidents_incidentchange", "incidents_user"]


def snapshot(tables: list[str] | None = None) -> dict[str, str]:
    """Row count plus a hash of every row of each domain table: equal snapshots mean nothing changed."""
    result: dict[str, str] = {}
    with connection.cursor() as cursor:
        for table in tables or DOMAIN_TABLES:
            cursor.execute(f"SELECT t::text FROM {table} t ORDER BY 1")  # table names are ours, not input
            rows = [r[0] for r in cursor.fetchall()]
            result[table] = f"{len(rows)}:{hashlib.sha256(chr(30).join(rows).encode()).hexdigest()}"
    return result


def race(n: int, fn: Callable[[int], T]) -> list[T | BaseException]:
    """Run fn(0..n-1) in n threads released together; each thread has its own DB connection."""
    barrier = threading.Barrier(n)

    def run(i: int) -> Any:
        from django.db import connection as thread_connection

        barrier.wait()
        try:
            return fn(i)
        except BaseException as exc:
            return exc
        finally:
            thread_connection.close()

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


@contextlib.contextmanager
def room_held(incident: Any, *, release_after: float | None = None) -> Iterator[None]:
    """Another connection holds the incident's row lock (someone posting, a slow writer) while the block runs,
    or only for `release_after` seconds of it."""
    from incidents.models import Incident

    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        from django.db import connection as thread_connection

        try:
            with transaction.atomic():
                Incident.objects.select_for_update().get(pk=incident.pk)
                locked.set()
                release.wait(10)
        finally:
            thread_connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(5), "the holder never got the lock"
    timer = threading.Timer(release_after, release.set) if release_after is not None else None
    if timer is not None:
        timer.start()
    try:
        yield
    finally:
        release.set()
        holder.join(5)
        if timer is not None:
            timer.cancel()
