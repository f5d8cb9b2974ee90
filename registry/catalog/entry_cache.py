"""Agent entries served from memory, kept fresh by PostgreSQL notifications.

Every change to an agent, its versions or its certificates is announced on the channel
`greenlang_agents` with the agent id, by a trigger, at commit (migration 005), so every registry
process hears of every writer's changes. While this process listens, an entry is kept up to
`listening_ttl` seconds and dropped when its notification arrives; while it does not (not
started, or the listening connection was lost), up to `ttl` (GREENLANG_READ_CACHE_TTL), so other
processes' writes show within that. Losing the connection clears everything, as notifications
may have been missed. No entry outlives a certificate's expiry, which changes `certified`
without any write. `preload` fills the cache at start so reads of a catalog of thousands of
agents never wait for PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from kernel.tasks import stop_task
from kernel.ttl_cache import TtlCache
from registry.catalog.models import RegistryEntry
from registry.store.port import AgentRepository

log = structlog.get_logger("registry.entries")

CHANNEL = "greenlang_agents"
PRELOAD_BATCH = 1000
RECONNECT_S = 1.0


class EntryCache:
    def __init__(
        self,
        pool: asyncpg.Pool,
        agents: AgentRepository,
        ttl: float,
        listening_ttl: float = 300.0,
        max_entries: int = 50_000,
    ) -> None:
        self.pool = pool  # one of its connections listens
        self._agents = agents
        self.ttl = ttl
        self.listening_ttl = listening_ttl
        self._cache: TtlCache[str, RegistryEntry] = TtlCache(ttl, max_entries)
        self._conn: Any = None  # the pool connection that listens
        self._dead: Any = None  # a listening connection that was lost, to give back to the pool
        self._task: asyncio.Task[None] | None = None
        # Told of every announced change (the agent id; None: changes may have been missed).
        self.on_change: Callable[[str | None], None] | None = None

    @property
    def listening(self) -> bool:
        return self._conn is not None

    async def get(self, agent_id: str) -> RegistryEntry | None:
        entry = self._cache.get(agent_id)
        if entry is None:
            generation = self._cache.generation
            entry = await self._agents.entry(agent_id)
            if entry is not None:
                self._put(entry, generation)
        return entry

    async def get_many(self, agent_ids: list[str]) -> list[RegistryEntry]:
        """Entries in the order given (unknown ids left out); the ones not in memory are loaded
        with one statement and kept, as get() keeps one."""
        found = {a: e for a in agent_ids if (e := self._cache.get(a)) is not None}
        missing = [a for a in agent_ids if a not in found]
        if missing:
            generation = self._cache.generation
            for entry in await self._agents.entries(missing):
                self._put(entry, generation)
                found[entry.agent_id] = entry
        return [found[a] for a in agent_ids if a in found]

    def cached(self, agent_id: str) -> RegistryEntry | None:
        """The entry when it is in memory and fresh (never loads)."""
        return self._cache.get(agent_id)

    def evict(self, agent_id: str) -> None:
        self._cache.pop(agent_id)

    def clear(self) -> None:
        self._cache.clear()

    def _put(self, entry: RegistryEntry, generation: int) -> None:
        ttl = self.listening_ttl if self.listening else self.ttl
        if self.ttl <= 0:
            return
        now = datetime.now(UTC)
        for v in entry.versions:
            expires = v.certificate_expires_at
            if expires is not None and expires > now:
                ttl = min(ttl, (expires - now).total_seconds())
        self._cache.put(entry.agent_id, entry, generation, ttl=ttl)

    # -- listening ---------------------------------------------------------------------------

    async def start(self, preload: int = 0) -> None:
        """Listen for changes (reconnecting in the background), then load up to `preload`
        entries, most recently changed first."""
        if self.ttl <= 0:
            return
        await self._listen()
        self._task = asyncio.create_task(self._keep_listening())
        if preload > 0 and self.listening:
            await self._preload(preload)

    async def close(self) -> None:
        await stop_task(self._task)
        self._task = None
        await self._release()

    async def _listen(self) -> None:
        try:
            conn = await self.pool.acquire()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("entry_listener_unavailable", error=repr(exc))
            return
        try:
            await conn.add_listener(CHANNEL, self._notified)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("entry_listener_unavailable", error=repr(exc))
            await self.pool.release(conn)
            return
        conn.add_termination_listener(self._lost)
        self._conn = conn
        self.clear()  # anything cached before listening may have missed a notification

    async def _keep_listening(self) -> None:
        while True:
            await asyncio.sleep(RECONNECT_S)
            if self._conn is not None and self._conn.is_closed():
                self._lost(self._conn)
            if self._dead is not None:
                dead, self._dead = self._dead, None
                await self._give_back(dead)
            if self._conn is None:
                await self._listen()

    def _notified(self, _conn: object, _pid: int, _channel: str, agent_id: str) -> None:
        self.evict(agent_id)
        if self.on_change is not None:
            self.on_change(agent_id)

    def _lost(self, conn: object) -> None:
        if self._conn is conn:
            log.warning("entry_listener_lost")
            self._conn, self._dead = None, conn
        self.clear()
        if self.on_change is not None:
            self.on_change(None)

    async def _release(self) -> None:
        conn, self._conn = self._conn, None
        dead, self._dead = self._dead, None
        for c in (conn, dead):
            if c is not None:
                await self._give_back(c)

    async def _give_back(self, conn: Any) -> None:
        """Return a listening connection to the pool (a closed one is replaced by the pool)."""
        try:
            if not conn.is_closed():
                await conn.remove_listener(CHANNEL, self._notified)
            await self.pool.release(conn)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.debug("entry_listener_release_failed", error=repr(exc))

    async def _preload(self, limit: int) -> None:
        generation = self._cache.generation
        ids = await self._agents.recently_changed(limit)
        for i in range(0, len(ids), PRELOAD_BATCH):
            for entry in await self._agents.entries(ids[i : i + PRELOAD_BATCH]):
                self._put(entry, generation)
        log.info("entries_preloaded", count=len(ids), kept=generation == self._cache.generation)
