"""A short-lived cache in front of any search index.

Search cost grows with the number of matches (ranking and facet counts over all of them), and
the same few queries dominate real traffic. Writes through this wrapper clear it at once; writes
made by other registry processes show up within `ttl` seconds."""

from __future__ import annotations

from collections.abc import Sequence

from registry.models import SearchQuery
from registry.ports import SearchDocument, SearchHits, SearchIndex
from registry.ttl_cache import TtlCache


class CachedSearchIndex:
    def __init__(self, inner: SearchIndex, ttl: float = 2.0, max_entries: int = 2048):
        self.inner = inner
        self._entries: TtlCache[str, SearchHits] = TtlCache(ttl, max_entries)

    async def search(self, query: SearchQuery) -> SearchHits:
        key = query.model_dump_json()
        hits = self._entries.get(key)
        if hits is None:
            hits = await self.inner.search(query)
            self._entries.put(key, hits)
        return hits

    async def upsert(self, docs: Sequence[SearchDocument]) -> None:
        self._entries.clear()
        await self.inner.upsert(docs)
        self._entries.clear()  # a search that raced the write may have cached the old state

    async def delete(self, agent_ids: Sequence[str]) -> None:
        self._entries.clear()
        await self.inner.delete(agent_ids)
        self._entries.clear()

    async def clear(self) -> None:
        self._entries.clear()
        await self.inner.clear()
        self._entries.clear()

    async def close(self) -> None:
        await self.inner.close()
