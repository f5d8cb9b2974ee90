"""The search outbox on PostgreSQL: rows written in each mutation's transaction, drained into the
search index by registry.search.relay."""

from __future__ import annotations

from collections.abc import Sequence

from registry.store.agents import Conn

RELAY_LOCK = 7_140_003  # advisory lock: one drainer at a time keeps index writes ordered


class PgOutbox:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def enqueue(self, agent_id: str) -> None:
        await self._conn.execute("INSERT INTO search_outbox (agent_id) VALUES ($1)", agent_id)

    async def enqueue_all(self) -> int:
        status = await self._conn.execute(
            "INSERT INTO search_outbox (agent_id) SELECT agent_id FROM agents"
        )
        return int(status.split()[-1])

    async def pending(self, limit: int) -> list[tuple[int, str]]:
        rows = await self._conn.fetch(
            "SELECT id, agent_id FROM search_outbox ORDER BY id LIMIT $1", limit
        )
        return [(r["id"], r["agent_id"]) for r in rows]

    async def remove(self, ids: Sequence[int]) -> None:
        await self._conn.execute(
            "DELETE FROM search_outbox WHERE id = ANY($1::bigint[])", list(ids)
        )
