"""The search cache: repeated queries are served from memory, writes through it clear it."""

from __future__ import annotations

import asyncio

import asyncpg

from registry.models import SearchQuery
from registry.ports import SearchDocument
from registry.search.cache import CachedSearchIndex
from registry.search.postgres import PostgresSearchIndex


def doc(agent_id: str, status: str = "active") -> SearchDocument:
    return SearchDocument(
        agent_id,
        "Scope 2 calculator",
        "Location based.",
        "ghg-team",
        "calculator",
        status,
        "1.0.0",
        ["scope-2"],
        ["GHG-PROTOCOL"],
    )


async def test_cache_hits_and_invalidation(pool: asyncpg.Pool) -> None:
    inner = PostgresSearchIndex(pool)
    cached = CachedSearchIndex(inner, ttl=60)
    await cached.upsert([doc("gl-a")])
    q = SearchQuery(query="scope")
    assert (await cached.search(q)).agent_ids == ["gl-a"]
    await inner.upsert([doc("gl-b")])  # a write the cache did not see (another process)
    assert (await cached.search(q)).agent_ids == ["gl-a"]  # served from the cache
    await cached.upsert([doc("gl-a", "retired")])  # a write through the cache clears it
    hits = await cached.search(q)
    assert hits.agent_ids == ["gl-a", "gl-b"] and hits.facets["status"] == {
        "active": 1,
        "retired": 1,
    }
    await cached.delete(["gl-b"])
    assert (await cached.search(q)).agent_ids == ["gl-a"]


async def test_cache_expires(pool: asyncpg.Pool) -> None:
    inner = PostgresSearchIndex(pool)
    cached = CachedSearchIndex(inner, ttl=0.05)
    q = SearchQuery()
    assert (await cached.search(q)).total == 0
    await inner.upsert([doc("gl-a")])
    await asyncio.sleep(0.1)
    assert (await cached.search(q)).total == 1
