"""The outbox relay: index updates survive an unreachable index and are applied later, once."""

from __future__ import annotations

import asyncpg

from registry.artifacts.filesystem import FilesystemArtifactStore
from registry.auth.models import Role
from registry.auth.principal import Context, Principal
from registry.catalog.models import SearchQuery
from registry.catalog.service import RegistryService
from registry.catalog.spec import validate_spec
from registry.search.meili import MeiliSearchIndex
from registry.search.postgres import PostgresSearchIndex
from registry.search.relay import OutboxRelay
from registry.store.postgres import PgMetadataStore

ADMIN = Context(Principal("t", "test", Role.ADMIN, None))


def spec(agent_id: str) -> object:
    return validate_spec(
        {
            "agent_id": agent_id,
            "name": f"{agent_id} calculator",
            "version": "1.0.0",
            "description": "Scope 3 category 1 estimator.",
            "type": "estimator",
            "metadata": {
                "team": "ghg-team",
                "tags": ["scope-3"],
                "regulatory_scope": ["GHG-PROTOCOL"],
            },
        }
    )


async def test_unreachable_index_keeps_rows_until_it_returns(pool: asyncpg.Pool, tmp_path) -> None:
    dead = MeiliSearchIndex("http://127.0.0.1:9", None)  # nothing listens on port 9
    service = RegistryService(pool, FilesystemArtifactStore(tmp_path), dead)
    await service.register(ADMIN, spec("gl-scope3-a"))  # committed although indexing failed
    await service.register(ADMIN, spec("gl-scope3-b"))
    assert await pool.fetchval("SELECT count(*) FROM agents") == 2
    assert await pool.fetchval("SELECT count(*) FROM search_outbox") == 2

    index = PostgresSearchIndex(pool)
    relay = OutboxRelay(PgMetadataStore(pool), index)
    assert await relay.drain() == 2
    assert await pool.fetchval("SELECT count(*) FROM search_outbox") == 0
    hits = await index.search(SearchQuery(query="estimator"))
    assert hits.agent_ids == ["gl-scope3-a", "gl-scope3-b"]
    assert await relay.drain() == 0


async def test_reindex_rebuilds_from_database(pool: asyncpg.Pool, tmp_path) -> None:
    index = PostgresSearchIndex(pool)
    service = RegistryService(pool, FilesystemArtifactStore(tmp_path), index)
    for i in range(3):
        await service.register(ADMIN, spec(f"gl-agent-{i}"))
    await index.clear()
    assert (await index.search(SearchQuery())).total == 0
    assert await PgMetadataStore(pool).outbox.enqueue_all() == 3
    await service.relay.drain()
    assert (await index.search(SearchQuery())).total == 3


async def test_started_relay_retries_in_background(pool: asyncpg.Pool, tmp_path) -> None:
    import asyncio

    index = PostgresSearchIndex(pool)
    await pool.execute("INSERT INTO search_outbox (agent_id) VALUES ('gl-never-registered')")
    service = RegistryService(
        pool, FilesystemArtifactStore(tmp_path), MeiliSearchIndex("http://127.0.0.1:9", None)
    )
    await service.register(ADMIN, spec("gl-late"))
    relay = OutboxRelay(PgMetadataStore(pool), index)
    relay.start(interval=0.05)
    try:
        for _ in range(100):
            if not await pool.fetchval("SELECT count(*) FROM search_outbox"):
                break
            await asyncio.sleep(0.05)
    finally:
        await relay.stop()
    assert (await index.search(SearchQuery(query="gl-late"))).agent_ids == ["gl-late"]
