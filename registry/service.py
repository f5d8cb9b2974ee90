"""Registry operations. Each mutation is one transaction that also writes its audit event and an
outbox row for the search index; authorisation and lifecycle rules are checked inside it."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import structlog

from kernel.ttl_cache import TtlCache
from registry import audit, lifecycle
from registry.entry_cache import EntryCache
from registry.errors import (
    CertificateRequired,
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from registry.models import (
    AgentStatus,
    AgentVersion,
    AuditEvent,
    AuditFilter,
    AuditPage,
    Certificate,
    CertificateRequest,
    RegistryEntry,
    Role,
    SearchQuery,
    SearchResult,
    StatusChange,
)
from registry.ports import ArtifactStore, SearchIndex, StoredArtifact
from registry.search.relay import OutboxRelay
from registry.single_flight import SingleFlight
from registry.spec import AgentSpec
from registry.store import agents as q
from registry.tokens import Principal

log = structlog.get_logger("registry.service")


@dataclass(frozen=True)
class UploadedFile:
    """A request body part already spooled to disk, with its measured digest."""

    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class Context:
    principal: Principal
    request_id: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _may_publish(principal: Principal, team: str) -> bool:
    if principal.role is Role.ADMIN:
        return True
    return principal.role is Role.PUBLISHER and principal.team == team


def _require_role(principal: Principal, roles: set[Role], what: str) -> None:
    if principal.role not in roles:
        allowed = " or ".join(sorted(r.value for r in roles))
        raise Forbidden(f"{what} needs role {allowed}; token has role {principal.role.value}")


APPROVERS = {Role.APPROVER, Role.ADMIN}


def audit_query(f: AuditFilter) -> tuple[str, list[object]]:
    """SQL and arguments of an audit page. Only the given filters go into the query, so each one
    can use its index (an `$n IS NULL OR col = $n` form would leave that to the plan cache)."""
    where: list[str] = ["seq > $1"]
    args: list[object] = [f.after_seq]
    filters = [
        ("agent_id = ${}", f.agent_id),
        ("action = ${}", f.action),
        ("request_id = ${}", f.request_id),
        # The expression of index audit_events_decision (migration 004).
        ("left(after ->> 'decision', 64) = ${}", f.decision),
        ("at >= ${}", f.since),
        ("at < ${}", f.until),
    ]
    for clause, value in filters:
        if value is not None:
            args.append(value)
            where.append(clause.format(len(args)))
    args.append(f.limit)
    conditions = " AND ".join(where)
    sql = f"SELECT * FROM audit_events WHERE {conditions} ORDER BY seq LIMIT ${len(args)}"
    return sql, args


class RegistryService:
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
        self.entries = EntryCache(pool, entry_cache_ttl)
        self._searches: TtlCache[str, SearchResult] = TtlCache(entry_cache_ttl, 2048)
        self._search_flights: SingleFlight[str, SearchResult] = SingleFlight()
        self._refreshes: set[asyncio.Task[SearchResult]] = set()
        self.pool = pool
        self.artifacts = artifacts
        self.index = index
        self.relay = OutboxRelay(pool, index)

    # -- reads -------------------------------------------------------------------------------

    async def get_agent(self, agent_id: str) -> RegistryEntry:
        entry = await self.entries.get(agent_id)
        if entry is None:
            raise NotFound(f"agent {agent_id!r} is not registered")
        return entry

    async def _committed(self, agent_id: str) -> None:
        """After every commit that changed `agent_id`: forget what was read of it (and every
        search), bring the search index up to date."""
        self.entries.evict(agent_id)
        self._searches.clear()
        await self.relay.try_drain()
        self._searches.clear()  # a search between the commit and the index update saw the old index

    async def get_version(self, agent_id: str, version: str) -> AgentVersion:
        found = await q.fetch_version(self.pool, agent_id, version)
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
        entries = await q.fetch_entries(self.pool, hits.agent_ids)
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
        row = await self.pool.fetchrow(
            "SELECT *, expires_at > now() AS valid FROM certificates WHERE certificate_id = $1",
            certificate_id,
        )
        if row is None:
            raise NotFound(f"certificate {certificate_id!r} does not exist")
        return Certificate.model_validate(dict(row))

    async def list_audit(self, f: AuditFilter) -> AuditPage:
        sql, args = audit_query(f)
        rows = await self.pool.fetch(sql, *args)
        events = [AuditEvent.model_validate(audit.decode_row(r)) for r in rows]
        next_after = events[-1].seq if len(events) == f.limit else None
        return AuditPage(events=events, next_after_seq=next_after)

    # -- registration ------------------------------------------------------------------------

    async def register(
        self,
        ctx: Context,
        spec: AgentSpec,
        artifact: UploadedFile | None = None,
        certificate_id: str | None = None,
    ) -> tuple[RegistryEntry, bool]:
        """Register a new agent or version; returns the entry and whether the agent is new."""
        team = spec.metadata.team
        if not _may_publish(ctx.principal, team):
            raise Forbidden(f"registering needs role publisher of team {team!r} or admin")
        if await self.pool.fetchval(
            "SELECT 1 FROM agent_versions WHERE agent_id = $1 AND version = $2",
            spec.agent_id,
            spec.version,
        ):
            raise Conflict(f"{spec.agent_id} {spec.version} is already registered")
        stored = await self._store_artifact(artifact)
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                if stored and artifact:
                    await self._pin_blob(conn, stored, artifact)
                created = await self._lock_or_create_agent(conn, spec, ctx)
                status = await self._initial_status(conn, spec, certificate_id)
                await self._insert_version(conn, spec, status, stored, certificate_id, ctx)
                if not created and status is AgentStatus.ACTIVE:
                    await self._make_current(conn, spec.agent_id, spec.version)
                entry = await q.fetch_entry(conn, spec.agent_id)
                assert entry is not None
                await self._record(
                    conn,
                    ctx,
                    "agent.register" if created else "version.register",
                    f"{spec.agent_id}@{spec.version}",
                    spec.agent_id,
                    after={
                        "version": spec.version,
                        "status": status.value,
                        "spec_hash": spec.spec_hash(),
                    },
                )
        except BaseException:
            if stored:
                await self._drop_unreferenced_blob(stored)
            raise
        await self._committed(spec.agent_id)
        return entry, created

    async def _store_artifact(self, artifact: UploadedFile | None) -> StoredArtifact | None:
        if artifact is None:
            return None
        return await self.artifacts.put_file(artifact.path, artifact.sha256, artifact.size)

    # Blobs are shared by content. A registration holds the blob's lock until it commits its
    # reference; a failed one deletes the blob only when, under that lock, nothing refers to it.

    async def _pin_blob(
        self, conn: asyncpg.Connection, stored: StoredArtifact, artifact: UploadedFile
    ) -> None:
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", stored.sha256)
        if not await self.artifacts.exists(stored.uri):  # removed by a failed twin meanwhile
            await self.artifacts.put_file(artifact.path, artifact.sha256, artifact.size)

    async def _drop_unreferenced_blob(self, stored: StoredArtifact) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", stored.sha256)
            if not await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM agent_versions WHERE artifact_sha256 = $1)",
                stored.sha256,
            ):
                await self.artifacts.delete(stored.uri)

    async def _lock_or_create_agent(
        self, conn: asyncpg.Connection, spec: AgentSpec, ctx: Context
    ) -> bool:
        """Lock the agent row, creating it if absent; True when this call created it."""
        m = spec.metadata
        now = _now()
        inserted = await conn.fetchval(
            "INSERT INTO agents (agent_id, name, description, owner_team, type, regulatory_scope,"
            " tags, current_version, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$9)"
            " ON CONFLICT (agent_id) DO NOTHING RETURNING true",
            spec.agent_id,
            spec.name,
            spec.description,
            m.team,
            spec.type,
            m.regulatory_scope,
            m.tags,
            spec.version,
            now,
        )
        if inserted:
            return True
        row = await conn.fetchrow(
            "SELECT owner_team, deleted_at FROM agents WHERE agent_id = $1 FOR UPDATE",
            spec.agent_id,
        )
        if row["deleted_at"] is not None:
            raise Conflict(f"agent {spec.agent_id!r} was deleted; register it under a new id")
        if row["owner_team"] != m.team:
            raise Conflict(
                f"agent {spec.agent_id!r} belongs to team {row['owner_team']!r}, "
                f"the spec says {m.team!r}"
            )
        if not _may_publish(ctx.principal, row["owner_team"]):
            raise Forbidden(f"agent {spec.agent_id!r} belongs to another team")
        return False

    async def _initial_status(
        self, conn: asyncpg.Connection, spec: AgentSpec, certificate_id: str | None
    ) -> AgentStatus:
        if certificate_id is None:
            return AgentStatus.DRAFT
        cert = await conn.fetchrow(
            "SELECT agent_id, version, expires_at > now() AS valid FROM certificates"
            " WHERE certificate_id = $1",
            certificate_id,
        )
        if cert is None:
            raise ValidationFailed(f"certificate {certificate_id!r} does not exist")
        if (cert["agent_id"], cert["version"]) != (spec.agent_id, spec.version):
            raise ValidationFailed(
                f"certificate {certificate_id!r} is for {cert['agent_id']} {cert['version']}, "
                f"not {spec.agent_id} {spec.version}"
            )
        return lifecycle.initial_status(bool(cert["valid"]))

    async def _insert_version(
        self,
        conn: asyncpg.Connection,
        spec: AgentSpec,
        status: AgentStatus,
        stored: StoredArtifact | None,
        certificate_id: str | None,
        ctx: Context,
    ) -> None:
        inserted = await conn.fetchval(
            "INSERT INTO agent_versions (agent_id, version, status, spec, spec_hash, artifact_uri,"
            " artifact_sha256, artifact_size, registered_certificate_id, changelog, created_at,"
            " created_by, updated_at) VALUES ($1,$2,$3,$4::jsonb,$5,$6,$7,$8,$9,$10,$11,$12,$11)"
            " ON CONFLICT (agent_id, version) DO NOTHING RETURNING true",
            spec.agent_id,
            spec.version,
            status.value,
            json.dumps(spec.model_dump(mode="json")),
            spec.spec_hash(),
            stored.uri if stored else None,
            stored.sha256 if stored else None,
            stored.size if stored else None,
            certificate_id,
            spec.metadata.changelog,
            _now(),
            ctx.principal.actor,
        )
        if not inserted:
            raise Conflict(f"{spec.agent_id} {spec.version} is already registered")

    async def _make_current(self, conn: asyncpg.Connection, agent_id: str, version: str) -> None:
        """Point the agent at `version` and refresh its card from that version's spec."""
        spec = json.loads(
            await conn.fetchval(
                "SELECT spec FROM agent_versions WHERE agent_id = $1 AND version = $2",
                agent_id,
                version,
            )
        )
        m = spec["metadata"]
        await conn.execute(
            "UPDATE agents SET current_version = $2, name = $3, description = $4, type = $5,"
            " regulatory_scope = $6, tags = $7, updated_at = $8 WHERE agent_id = $1",
            agent_id,
            version,
            spec["name"],
            spec["description"],
            spec["type"],
            m["regulatory_scope"],
            m["tags"],
            _now(),
        )

    async def _record(
        self,
        conn: asyncpg.Connection,
        ctx: Context,
        action: str,
        target: str,
        agent_id: str | None,
        before: object = None,
        after: object = None,
        reason: str | None = None,
    ) -> None:
        """Audit event plus search outbox row, in the caller's transaction."""
        await audit.append(
            conn,
            audit.AuditRecord(
                actor=ctx.principal.actor,
                action=action,
                target=target,
                agent_id=agent_id,
                before=before,
                after=after,
                reason=reason,
                request_id=ctx.request_id,
            ),
        )
        if agent_id is not None:
            await conn.execute("INSERT INTO search_outbox (agent_id) VALUES ($1)", agent_id)

    # -- lifecycle ---------------------------------------------------------------------------

    async def change_status(
        self,
        ctx: Context,
        agent_id: str,
        version: str,
        change: StatusChange,
        if_match: int | None = None,
    ) -> AgentVersion:
        _require_role(ctx.principal, APPROVERS, "changing a version's status")
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT v.status, v.row_version, a.deleted_at FROM agent_versions v"
                " JOIN agents a USING (agent_id) WHERE v.agent_id = $1 AND v.version = $2"
                " FOR UPDATE OF v",
                agent_id,
                version,
            )
            if row is None:
                await self.get_version(agent_id, version)  # raises the precise 404
            if if_match is not None and if_match != row["row_version"]:
                raise PreconditionFailed(
                    f"{agent_id} {version} changed since you read it "
                    f"(row_version {row['row_version']}, If-Match {if_match})"
                )
            current = AgentStatus(row["status"])
            certified = await self._certified(conn, agent_id, version)
            self._check_transition(current, change.status, certified, ctx.principal.role)
            await conn.execute(
                "UPDATE agent_versions SET status = $3, status_reason = $4, updated_at = $5,"
                " row_version = row_version + 1 WHERE agent_id = $1 AND version = $2",
                agent_id,
                version,
                change.status.value,
                change.reason,
                _now(),
            )
            if lifecycle.moves_current_version(change.status):
                await self._make_current(conn, agent_id, version)
            await self._record(
                conn,
                ctx,
                "version.status",
                f"{agent_id}@{version}",
                agent_id,
                before={"status": current.value},
                after={"status": change.status.value},
                reason=change.reason,
            )
        await self._committed(agent_id)
        return await self.get_version(agent_id, version)

    @staticmethod
    def _check_transition(
        current: AgentStatus, target: AgentStatus, certified: bool, role: Role
    ) -> None:
        try:
            lifecycle.check_transition(current, target, certified=certified, role=role)
        except lifecycle.TransitionRefused as refused:
            extras = {"current_status": current.value, "allowed_transitions": list(refused.allowed)}
            cls = {
                "forbidden": Forbidden,
                "certificate-required": CertificateRequired,
            }.get(refused.kind, InvalidTransition)
            raise cls(refused.detail, **extras) from None

    async def _certified(self, conn: asyncpg.Connection, agent_id: str, version: str) -> bool:
        return bool(
            await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM certificates WHERE agent_id = $1 AND version = $2"
                " AND expires_at > now())",
                agent_id,
                version,
            )
        )

    async def delete_agent(self, ctx: Context, agent_id: str, reason: str) -> RegistryEntry:
        """Soft delete: retire every version; rows and history stay."""
        _require_role(ctx.principal, APPROVERS, "deleting an agent")
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT deleted_at FROM agents WHERE agent_id = $1 FOR UPDATE", agent_id
            )
            if row is None:
                raise NotFound(f"agent {agent_id!r} is not registered")
            if row["deleted_at"] is not None:
                raise Conflict(f"agent {agent_id!r} is already deleted")
            before = dict(
                await conn.fetch(
                    "SELECT version, status FROM agent_versions WHERE agent_id = $1", agent_id
                )
            )
            now = _now()
            await conn.execute(
                "UPDATE agent_versions SET status = 'retired', status_reason = $2, updated_at = $3,"
                " row_version = row_version + 1 WHERE agent_id = $1 AND status <> 'retired'",
                agent_id,
                reason or "agent deleted",
                now,
            )
            await conn.execute(
                "UPDATE agents SET deleted_at = $2, updated_at = $2 WHERE agent_id = $1",
                agent_id,
                now,
            )
            await self._record(
                conn,
                ctx,
                "agent.delete",
                agent_id,
                agent_id,
                before=before,
                after={v: "retired" for v in before},
                reason=reason,
            )
        await self._committed(agent_id)
        return await self.get_agent(agent_id)

    # -- certificates ------------------------------------------------------------------------

    async def issue_certificate(self, ctx: Context, req: CertificateRequest) -> Certificate:
        _require_role(ctx.principal, APPROVERS, "issuing certificates")
        cert_id = (
            f"CERT-{req.agent_id.upper()}-{req.version.upper()}-{secrets.token_hex(4).upper()}"
        )
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO certificates (certificate_id, agent_id, version, issuer, issued_at,"
                " expires_at, issued_by) VALUES ($1,$2,$3,$4,$5,$6,$7)",
                cert_id,
                req.agent_id,
                req.version,
                req.issuer,
                _now(),
                req.expires_at,
                ctx.principal.actor,
            )
            await self._record(
                conn,
                ctx,
                "certificate.issue",
                cert_id,
                req.agent_id,
                after=req.model_dump(mode="json"),
            )
        await self._committed(req.agent_id)
        return await self.get_certificate(cert_id)
