"""The metadata store on PostgreSQL (asyncpg): a session is the repositories bound to one
connection; the store's own repositories run each call on a pooled connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from registry.store.agents import Conn, PgAgents
from registry.store.audit import PgAudit
from registry.store.bundles import PgBundles
from registry.store.canaries import PgCanaries
from registry.store.certificates import PgCertificates
from registry.store.deployments import PgDeployments
from registry.store.opa_instances import PgOpaInstances
from registry.store.outbox import RELAY_LOCK, PgOutbox
from registry.store.policies import PgPolicies
from registry.store.tokens import PgTokens
from registry.store.versions import PgVersions
from registry.store.webhooks import PgWebhooks


class PgSession:
    def __init__(self, conn: Conn) -> None:
        self.agents = PgAgents(conn)
        self.versions = PgVersions(conn)
        self.certificates = PgCertificates(conn)
        self.audit = PgAudit(conn)
        self.outbox = PgOutbox(conn)
        self.tokens = PgTokens(conn)
        self.policies = PgPolicies(conn)
        self.opa_instances = PgOpaInstances(conn)
        self.bundles = PgBundles(conn)
        self.webhooks = PgWebhooks(conn)
        self.deployments = PgDeployments(conn)
        self.canaries = PgCanaries(conn)


class PgMetadataStore(PgSession):
    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self.pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgSession]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield PgSession(conn)

    @asynccontextmanager
    async def outbox_drainer(self) -> AsyncIterator[PgSession]:
        async with self.pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", RELAY_LOCK)
            try:
                yield PgSession(conn)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", RELAY_LOCK)

    async def ping(self) -> None:
        await self.pool.fetchval("SELECT 1")
