"""A short-lived cache in front of any search index.

Search cost grows with the number of matches (ranking and facet counts over all of them), and
the same few queries dominate real traffic. Writes through this wrapper clear it at once; writes
made by other registry processes show up within `ttl` seconds."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence

from registry.models import SearchQuery
from registry.ports import SearchDocument, SearchHits, SearchIndex


class CachedSearchIndex:
    def __init__(self, inner: SearchIndex, ttl: float = 2.0, max_entries: int = 2048):
        self.inner = inner
        self._ttl = ttl
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[float, SearchHits]] = OrderedDict()

    async def search(self, query: SearchQuery) -> SearchHits:
        key = query.model_dump_json()
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit and hit[0] > now:
            return hit[1]
        hits = await self.inner.search(query)
        self._entries[key] = (now + self._ttl, hits)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
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
