"""The versions repository on PostgreSQL: immutable version records whose status moves, and the
blob references they hold."""

from __future__ import annotations

import json
from datetime import datetime

from registry.catalog.models import AgentStatus, AgentVersion
from registry.catalog.spec import AgentSpec
from registry.store.agents import Conn, fetch_version
from registry.store.port import NewVersion, VersionLock


class PgVersions:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def exists(self, agent_id: str, version: str) -> bool:
        return bool(
            await self._conn.fetchval(
                "SELECT 1 FROM agent_versions WHERE agent_id = $1 AND version = $2",
                agent_id,
                version,
            )
        )

    async def insert(self, new: NewVersion) -> bool:
        spec = new.spec
        return bool(
            await self._conn.fetchval(
                "INSERT INTO agent_versions (agent_id, version, status, spec, spec_hash,"
                " artifact_uri, artifact_sha256, artifact_size, registered_certificate_id,"
                " changelog, created_at, created_by, updated_at)"
                " VALUES ($1,$2,$3,$4::jsonb,$5,$6,$7,$8,$9,$10,$11,$12,$11)"
                " ON CONFLICT (agent_id, version) DO NOTHING RETURNING true",
                spec.agent_id,
                spec.version,
                new.status.value,
                json.dumps(spec.model_dump(mode="json")),
                spec.spec_hash(),
                new.artifact_uri,
                new.artifact_sha256,
                new.artifact_size,
                new.certificate_id,
                spec.metadata.changelog,
                new.created_at,
                new.created_by,
            )
        )

    async def get(self, agent_id: str, version: str) -> AgentVersion | None:
        return await fetch_version(self._conn, agent_id, version)

    async def spec(self, agent_id: str, version: str) -> AgentSpec | None:
        doc = await self._conn.fetchval(
            "SELECT spec FROM agent_versions WHERE agent_id = $1 AND version = $2",
            agent_id,
            version,
        )
        return AgentSpec.model_validate_json(doc) if doc is not None else None

    async def lock(self, agent_id: str, version: str) -> VersionLock | None:
        row = await self._conn.fetchrow(
            "SELECT v.status, v.row_version, a.deleted_at FROM agent_versions v"
            " JOIN agents a USING (agent_id) WHERE v.agent_id = $1 AND v.version = $2"
            " FOR UPDATE OF v",
            agent_id,
            version,
        )
        return VersionLock(AgentStatus(row["status"]), row["row_version"]) if row else None

    async def set_status(
        self, agent_id: str, version: str, status: AgentStatus, reason: str, at: datetime
    ) -> None:
        await self._conn.execute(
            "UPDATE agent_versions SET status = $3, status_reason = $4, updated_at = $5,"
            " row_version = row_version + 1 WHERE agent_id = $1 AND version = $2",
            agent_id,
            version,
            status.value,
            reason,
            at,
        )

    async def set_deprecation(
        self,
        agent_id: str,
        version: str,
        sunset_at: datetime,
        replacement_agent_id: str | None,
        reason: str,
        at: datetime,
    ) -> None:
        await self._conn.execute(
            "UPDATE agent_versions SET status = 'deprecated', status_reason = $5,"
            " deprecated_at = coalesce(deprecated_at, $6), sunset_at = $3,"
            " replacement_agent_id = $4, updated_at = $6, row_version = row_version + 1"
            " WHERE agent_id = $1 AND version = $2",
            agent_id,
            version,
            sunset_at,
            replacement_agent_id,
            reason,
            at,
        )

    async def sunset_due(self, at: datetime, limit: int) -> list[tuple[str, str]]:
        rows = await self._conn.fetch(
            "SELECT agent_id, version FROM agent_versions"
            " WHERE status = 'deprecated' AND sunset_at IS NOT NULL AND sunset_at <= $1"
            " ORDER BY sunset_at, agent_id, version LIMIT $2",
            at,
            limit,
        )
        return [(r["agent_id"], r["version"]) for r in rows]

    async def statuses(self, agent_id: str) -> dict[str, str]:
        rows = await self._conn.fetch(
            "SELECT version, status FROM agent_versions WHERE agent_id = $1", agent_id
        )
        return {r["version"]: r["status"] for r in rows}

    async def retire_all(self, agent_id: str, reason: str, at: datetime) -> None:
        await self._conn.execute(
            "UPDATE agent_versions SET status = 'retired', status_reason = $2, updated_at = $3,"
            " row_version = row_version + 1 WHERE agent_id = $1 AND status <> 'retired'",
            agent_id,
            reason,
            at,
        )

    async def lock_artifact(self, sha256: str) -> None:
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", sha256)

    async def artifact_referenced(self, sha256: str) -> bool:
        return bool(
            await self._conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM agent_versions WHERE artifact_sha256 = $1)", sha256
            )
        )
