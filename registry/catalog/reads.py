"""Reads of the agent catalog, served from memory where they can be: entries by the entry cache
(kept fresh by notifications), search results for the read-cache TTL (stale-while-refresh)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import structlog

from kernel.ttl_cache import TtlCache
from registry.artifacts.port import ArtifactStore
from registry.audit.models import AuditFilter, AuditPage
from registry.catalog.certificate_expiry import CertificateExpiryGauge
from registry.catalog.entry_cache import EntryCache
from registry.catalog.models import (
    AgentVersion,
    Certificate,
    RegistryEntry,
    SearchQuery,
    SearchResult,
)
from registry.errors import NotFound
from registry.search.port import SearchIndex
from registry.search.relay import OutboxRelay
from registry.single_flight import SingleFlight
from registry.store.port import MetadataStore
from registry.store.postgres import PgMetadataStore

log = structlog.get_logger("registry.service")


class CatalogReads:
    def __init__(
        self,
        pool: asyncpg.Pool,
        artifacts: ArtifactStore,
        index: SearchIndex,
        entry_cache_ttl: float = 0.0,
    ):
        # Entries and search results may be served from memory; this process's own writes
        # drop them at once. Other processes' writes: entries see entry_cache.py
        # (notifications, else the TTL), searches within two TTLs (see search).
        self.pool = pool  # the entry cache listens on one of its connections
        self.store: MetadataStore = PgMetadataStore(pool)
        self.entries = EntryCache(pool, self.store.agents, entry_cache_ttl)
        self.certificate_expiry = CertificateExpiryGauge(self.store.certificates)
        self.entries.on_change = self.certificate_expiry.mark_changed
        self._searches: TtlCache[str, SearchResult] = TtlCache(entry_cache_ttl, 2048)
        self._search_flights: SingleFlight[str, SearchResult] = SingleFlight()
        self._refreshes: set[asyncio.Task[SearchResult]] = set()
        self.artifacts = artifacts
        self.index = index
        self.relay = OutboxRelay(self.store, index)

    async def get_agent(self, agent_id: str) -> RegistryEntry:
        entry = await self.entries.get(agent_id)
        if entry is None:
            raise NotFound(f"agent {agent_id!r} is not registered")
        return entry

    async def _committed(self, agent_id: str) -> None:
        """After every commit that changed `agent_id`: forget what was read of it (and every
        search), bring the search index up to date."""
        self.entries.evict(agent_id)
        self.certificate_expiry.mark_changed(agent_id)
        self._searches.clear()
        await self.relay.try_drain()
        self._searches.clear()  # a search between the commit and the index update saw the old index

    async def get_version(self, agent_id: str, version: str) -> AgentVersion:
        found = await self.store.versions.get(agent_id, version)
        if found is None:
            await self.get_agent(agent_id)  # 404 names the agent when that is what is missing
            raise NotFound(f"agent {agent_id!r} has no version {version!r}")
        return found

    async def search(self, query: SearchQuery) -> SearchResult:
        """Served from memory for the read-cache TTL; for one more TTL an expired result is
        still served while one background query refreshes it (a popular search never waits
        for PostgreSQL); a write of this process drops them all."""
        key = query.model_dump_json()
        result = self._searches.get(key)
        if result is not None:
            return result
        stale = self._searches.stale(key, grace=self._searches.ttl)
        if stale is None:
            return await self._search_flights.run(key, lambda: self._search_uncached(query, key))
        if not self._search_flights.pending(key):
            task = asyncio.create_task(
                self._search_flights.run(key, lambda: self._search_uncached(query, key))
            )
            self._refreshes.add(task)
            task.add_done_callback(self._refreshed)
        return stale

    def _refreshed(self, task: asyncio.Task[SearchResult]) -> None:
        self._refreshes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("search_refresh_failed", error=repr(task.exception()))

    async def start(self, preload: int = 0) -> None:
        """Hear other processes' writes and load up to `preload` entries (the server does;
        short-lived users such as CLI commands need not)."""
        await self.entries.start(preload)

    async def close(self) -> None:
        """Stop background work (before the pool closes)."""
        for task in list(self._refreshes):
            task.cancel()
        await asyncio.gather(*self._refreshes, return_exceptions=True)
        await self.entries.close()

    async def _search_uncached(self, query: SearchQuery, key: str) -> SearchResult:
        generation = self._searches.generation
        hits = await self.index.search(query)
        entries = await self.entries.get_many(hits.agent_ids)  # memory first, as get() does
        result = SearchResult(
            total=hits.total,
            page=query.page,
            page_size=query.page_size,
            agents=entries,
            facets=hits.facets,
        )
        self._searches.put(key, result, generation)
        return result

    async def open_artifact(
        self, agent_id: str, version: str
    ) -> tuple[AgentVersion, AsyncIterator[bytes]]:
        v = await self.get_version(agent_id, version)
        if not v.artifact_uri or not v.artifact_sha256:
            raise NotFound(f"{agent_id} {version} has no artifact")
        return v, self.artifacts.open(v.artifact_uri, v.artifact_sha256)

    async def get_certificate(self, certificate_id: str) -> Certificate:
        cert = await self.store.certificates.get(certificate_id)
        if cert is None:
            raise NotFound(f"certificate {certificate_id!r} does not exist")
        return cert

    async def list_audit(self, f: AuditFilter) -> AuditPage:
        events = await self.store.audit.page(f)
        next_after = events[-1].seq if len(events) == f.limit else None
        return AuditPage(events=events, next_after_seq=next_after)
