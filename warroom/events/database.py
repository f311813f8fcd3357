"""The events process's PostgreSQL side: one small pool, one statement per borrowed connection, and replay
questions asked twice at once answered once. May import feeds and queries from this package."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, Final

import psycopg
from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from warroom.events.feeds import Row
from warroom.events.queries import conninfo, statements

DB_TIMEOUT: Final = 5.0
POOL_MAX: Final = 4

Pool = AsyncConnectionPool[AsyncConnection[tuple[Any, ...]]]


class Database:
    def __init__(self, loop: asyncio.AbstractEventLoop, counters: Counter[str]) -> None:
        self.loop = loop
        self.counters = counters  # the hub's: /events/stats shows them
        self._pool: Pool | None = None
        self._pool_lock = asyncio.Lock()
        self._fetching: dict[tuple[int, int, int], asyncio.Future[list[Row]]] = {}

    async def pool(self) -> Pool:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    pool: Pool = AsyncConnectionPool(
                        conninfo(),
                        min_size=1,
                        max_size=POOL_MAX,
                        open=False,
                        name="warroom-events",
                        timeout=DB_TIMEOUT,
                        # A connect storm grows the pool to max; give the extra connections back soon after.
                        max_idle=60.0,
                        # Autocommit: no statement ever leaves a connection idle in a transaction.
                        kwargs={"autocommit": True, "application_name": "warroom-events"},
                    )
                    await pool.open(wait=False)
                    self._pool = pool
        return self._pool

    async def query(self, statement: sql.Composed, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Borrow a connection for one statement; it is back in the pool before any result is used.

        A connection broken by a PostgreSQL restart fails on first use (the pool then drops it); we check
        the idle ones and try once more, instead of paying a health-check round trip on every checkout.
        """
        pool = await self.pool()
        for attempt in (1, 2):
            try:
                async with pool.connection() as conn:
                    cursor = await conn.execute(statement, params)
                    rows = await cursor.fetchall()
                self.counters["db_queries"] += 1
                return rows
            except PoolTimeout:
                raise  # no connection to be had (PostgreSQL down): waiting once is enough
            except psycopg.OperationalError:
                if attempt == 2:
                    raise
                self.counters["db_retries"] += 1
                await pool.check()
        raise AssertionError("unreachable")

    async def fetch_after(self, incident_id: int, after: int, limit: int) -> list[Row]:
        """Entries seq > `after` (at most `limit`), committed ones only. The same question asked while it is
        being answered shares the answer: after a restart a thousand streams of one incident reconnect with
        the same cursor, and one query serves them all (issue #15, B5) instead of a thousand queued behind
        the pool. Sharing an answer whose snapshot predates a caller is safe: entries committed later have
        higher seqs, and every caller catches up past its replay through the Feed (hub.advance)."""
        key = (incident_id, after, limit)
        shared = self._fetching.get(key)
        if shared is None:
            shared = self._fetching[key] = self.loop.create_task(self._fetch_after(incident_id, after, limit))
            shared.add_done_callback(lambda task: self._fetched(key, task))
        else:
            self.counters["replays_shared"] += 1
        return await asyncio.shield(shared)

    def _fetched(self, key: tuple[int, int, int], task: asyncio.Future[list[Row]]) -> None:
        self._fetching.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved: the callers that are still waiting get it; nobody else should warn

    async def _fetch_after(self, incident_id: int, after: int, limit: int) -> list[Row]:
        rows = await self.query(statements().replay, (incident_id, after, limit))
        return [(int(seq), str(html), bool(privileged)) for seq, html, privileged in rows]

    def stats(self) -> dict[str, Any]:
        pool = self._pool.get_stats() if self._pool is not None else {}
        return {
            "open": self._pool is not None,
            "size": pool.get("pool_size", 0),
            "available": pool.get("pool_available", 0),
            "max": POOL_MAX,
        }
