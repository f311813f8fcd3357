"""Shared test helpers: snapshots for "nothing changed" checks and a thread race runner."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import connection

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
