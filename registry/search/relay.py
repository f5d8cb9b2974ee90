"""Drains the transactional outbox into the search index.

Mutations write an outbox row in their own transaction; the relay turns pending rows into index
updates built from the *current* database state, so applying events late or twice is harmless.
One drainer at a time (process lock + the store's drain lock) keeps index writes ordered."""

from __future__ import annotations

import asyncio

import structlog

from kernel.tasks import stop_task
from registry.search.port import SearchIndex
from registry.store.port import MetadataStore, Session

log = structlog.get_logger("registry.relay")


class OutboxRelay:
    def __init__(self, store: MetadataStore, index: SearchIndex, batch: int = 500):
        self._store = store
        self._index = index
        self._batch = batch
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def drain(self) -> int:
        """Apply every pending outbox row; return how many rows were applied."""
        applied = 0
        async with self._lock, self._store.outbox_drainer() as session:
            while n := await self._apply_batch(session):
                applied += n
        return applied

    async def _apply_batch(self, session: Session) -> int:
        rows = await session.outbox.pending(self._batch)
        if not rows:
            return 0
        ids = sorted({agent_id for _, agent_id in rows})
        docs = await session.agents.search_documents(ids)
        if docs:
            await self._index.upsert(docs)
        gone = sorted(set(ids) - {d.agent_id for d in docs})
        if gone:
            await self._index.delete(gone)
        # Delete exactly the rows read: a row committed meanwhile with a lower id must survive.
        await session.outbox.remove([row_id for row_id, _ in rows])
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
        await stop_task(self._task)
        self._task = None
