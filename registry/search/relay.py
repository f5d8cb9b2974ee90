"""Drains the transactional outbox into the search index.

Mutations write an outbox row in their own transaction; the relay turns pending rows into index
updates built from the *current* database state, so applying events late or twice is harmless.
One drainer at a time (process lock + PostgreSQL advisory lock) keeps index writes ordered."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import structlog

from registry.artifacts.port import SearchIndex
from registry.store.agents import search_documents

RELAY_LOCK = 7_140_003
log = structlog.get_logger("registry.relay")


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, index: SearchIndex, batch: int = 500):
        self._pool = pool
        self._index = index
        self._batch = batch
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def drain(self) -> int:
        """Apply every pending outbox row; return how many rows were applied."""
        applied = 0
        async with self._lock, self._pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", RELAY_LOCK)
            try:
                while n := await self._apply_batch(conn):
                    applied += n
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", RELAY_LOCK)
        return applied

    async def _apply_batch(self, conn: asyncpg.Connection) -> int:
        rows = await conn.fetch(
            "SELECT id, agent_id FROM search_outbox ORDER BY id LIMIT $1", self._batch
        )
        if not rows:
            return 0
        ids = sorted({r["agent_id"] for r in rows})
        docs = await search_documents(conn, ids)
        if docs:
            await self._index.upsert(docs)
        gone = sorted(set(ids) - {d.agent_id for d in docs})
        if gone:
            await self._index.delete(gone)
        # Delete exactly the rows read: a row committed meanwhile with a lower id must survive.
        await conn.execute(
            "DELETE FROM search_outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
        )
        return len(rows)

    async def try_drain(self) -> None:
        """Drain, logging instead of raising: the change is committed and will be retried."""
        try:
            await self.drain()
        except Exception as exc:  # index down: rows stay in the outbox for the next pass
            log.warning("search index update deferred", error=str(exc))

    def start(self, interval: float = 2.0) -> None:
        """Background pass for rows left behind when the index was unreachable."""

        async def loop() -> None:
            while True:
                await self.try_drain()
                await asyncio.sleep(interval)

        self._task = asyncio.create_task(loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def enqueue_all(conn: asyncpg.Connection) -> int:
    """Queue every agent for re-indexing (used by `reindex`)."""
    status = await conn.execute("INSERT INTO search_outbox (agent_id) SELECT agent_id FROM agents")
    return int(status.split()[-1])
