"""The agents repository on PostgreSQL: agent rows, and whole entries (agent, current status and
every version) read in one statement each."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg
import semver

from registry.catalog.models import AgentVersion, RegistryEntry
from registry.catalog.spec import AgentSpec
from registry.search.port import SearchDocument
from registry.store.port import AgentInfo, AgentLock

Conn: TypeAlias = "asyncpg.Connection | asyncpg.Pool"

AGENT_SQL = """
SELECT a.*, v.status
FROM agents a JOIN agent_versions v ON v.agent_id = a.agent_id AND v.version = a.current_version
WHERE a.agent_id = ANY($1::text[])
"""

_VERSION_COLUMNS = """
v.version, v.status, v.spec_hash, v.artifact_uri, v.artifact_sha256, v.artifact_size,
v.changelog, v.status_reason, v.created_at, v.created_by, v.updated_at, v.row_version,
v.deprecated_at, v.sunset_at, v.replacement_agent_id,
c.certificate_id, c.expires_at AS certificate_expires_at,
coalesce(c.expires_at > now(), false) AS certified
"""

# The version's best certificate (latest expiry); `v` must be in scope.
_CERTIFICATE_JOIN = """
LEFT JOIN LATERAL (
    SELECT certificate_id, expires_at FROM certificates c
    WHERE c.agent_id = v.agent_id AND c.version = v.version
    ORDER BY expires_at DESC LIMIT 1
) c ON true
"""

# The agent's usage (migration 008) in the shape of UsageStats; `a` must be in scope.
_USAGE = """
SELECT json_build_object(
    'calls', coalesce(sum(u.calls), 0), 'errors', coalesce(sum(u.errors), 0),
    'denied', coalesce(sum(u.denied), 0), 'total_tokens', coalesce(sum(u.total_tokens), 0),
    'last_call_at', max(u.last_call_at),
    'versions', coalesce(json_object_agg(u.version, json_build_object(
        'calls', u.calls, 'errors', u.errors, 'denied', u.denied,
        'total_tokens', u.total_tokens, 'last_call_at', u.last_call_at
    )) FILTER (WHERE u.version <> ''), json_build_object())
) FROM agent_usage u WHERE u.agent_id = a.agent_id
"""

# One statement per read: the agent, its current status, its usage, its live deployments (the
# stored agents.deployment_count column is unused) and all versions as JSON.
# `{where}` is a fixed fragment chosen below, never user text.
_ENTRY_SQL = f"""
SELECT a.*, cur.status, ({_USAGE}) AS usage_stats, (
    SELECT count(*) FROM deployments d WHERE d.agent_id = a.agent_id AND d.status <> 'stopped'
) AS live_deployments, (
    SELECT coalesce(json_agg(vv), '[]') FROM (
        SELECT {_VERSION_COLUMNS} FROM agent_versions v {_CERTIFICATE_JOIN}
        WHERE v.agent_id = a.agent_id
    ) vv
) AS versions
FROM agents a
JOIN agent_versions cur ON cur.agent_id = a.agent_id AND cur.version = a.current_version
WHERE {{where}}
"""
ONE_ENTRY_SQL = _ENTRY_SQL.format(where="a.agent_id = $1")
MANY_ENTRIES_SQL = _ENTRY_SQL.format(where="a.agent_id = ANY($1::text[])")

ONE_VERSION_SQL = f"""
SELECT {_VERSION_COLUMNS} FROM agent_versions v {_CERTIFICATE_JOIN}
WHERE v.agent_id = $1 AND v.version = $2
"""


def semver_key(version: str) -> semver.Version:
    return semver.Version.parse(version)


def _summary_fields(row: asyncpg.Record) -> dict[str, Any]:
    fields = dict(row)
    usage = fields.get("usage_stats")
    fields["usage_stats"] = json.loads(usage) if isinstance(usage, str) else (usage or {})
    fields.pop("versions", None)
    fields["deployment_count"] = fields.pop("live_deployments", 0)
    return fields


def _entry(row: asyncpg.Record) -> RegistryEntry:
    versions = [AgentVersion.model_validate(v) for v in json.loads(row["versions"])]
    versions.sort(key=lambda v: semver_key(v.version))  # semver order, oldest first
    return RegistryEntry(**_summary_fields(row), versions=versions)


async def fetch_version(conn: Conn, agent_id: str, version: str) -> AgentVersion | None:
    row = await conn.fetchrow(ONE_VERSION_SQL, agent_id, version)
    return AgentVersion.model_validate(dict(row)) if row else None


async def fetch_entries(conn: Conn, agent_ids: Sequence[str]) -> list[RegistryEntry]:
    """Full entries for the given ids, in the order given; unknown ids are left out."""
    if not agent_ids:
        return []
    rows = await conn.fetch(MANY_ENTRIES_SQL, list(agent_ids))
    by_id = {r["agent_id"]: _entry(r) for r in rows}
    return [by_id[a] for a in agent_ids if a in by_id]


async def fetch_entry(conn: Conn, agent_id: str) -> RegistryEntry | None:
    row = await conn.fetchrow(ONE_ENTRY_SQL, agent_id)
    return _entry(row) if row else None


class PgAgents:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def insert_if_absent(self, spec: AgentSpec, at: datetime) -> bool:
        m = spec.metadata
        return bool(
            await self._conn.fetchval(
                "INSERT INTO agents (agent_id, name, description, owner_team, type,"
                " regulatory_scope, tags, current_version, created_at, updated_at)"
                " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$9)"
                " ON CONFLICT (agent_id) DO NOTHING RETURNING true",
                spec.agent_id,
                spec.name,
                spec.description,
                m.team,
                spec.type,
                m.regulatory_scope,
                m.tags,
                spec.version,
                at,
            )
        )

    async def lock(self, agent_id: str) -> AgentLock | None:
        row = await self._conn.fetchrow(
            "SELECT owner_team, deleted_at FROM agents WHERE agent_id = $1 FOR UPDATE", agent_id
        )
        return AgentLock(row["owner_team"], row["deleted_at"]) if row else None

    async def make_current(self, agent_id: str, version: str, at: datetime) -> None:
        spec = json.loads(
            await self._conn.fetchval(
                "SELECT spec FROM agent_versions WHERE agent_id = $1 AND version = $2",
                agent_id,
                version,
            )
        )
        m = spec["metadata"]
        await self._conn.execute(
            "UPDATE agents SET current_version = $2, name = $3, description = $4, type = $5,"
            " regulatory_scope = $6, tags = $7, updated_at = $8 WHERE agent_id = $1",
            agent_id,
            version,
            spec["name"],
            spec["description"],
            spec["type"],
            m["regulatory_scope"],
            m["tags"],
            at,
        )

    async def mark_deleted(self, agent_id: str, at: datetime) -> None:
        await self._conn.execute(
            "UPDATE agents SET deleted_at = $2, updated_at = $2 WHERE agent_id = $1", agent_id, at
        )

    async def entry(self, agent_id: str) -> RegistryEntry | None:
        return await fetch_entry(self._conn, agent_id)

    async def entries(self, agent_ids: Sequence[str]) -> list[RegistryEntry]:
        return await fetch_entries(self._conn, agent_ids)

    async def recently_changed(self, limit: int) -> list[str]:
        rows = await self._conn.fetch(
            "SELECT agent_id FROM agents ORDER BY updated_at DESC LIMIT $1", limit
        )
        return [r["agent_id"] for r in rows]

    async def info_labels(self) -> list[AgentInfo]:
        rows = await self._conn.fetch(
            "SELECT agent_id, owner_team, regulatory_scope FROM agents"
            " WHERE deleted_at IS NULL ORDER BY agent_id"
        )
        return [
            AgentInfo(r["agent_id"], r["owner_team"], tuple(r["regulatory_scope"])) for r in rows
        ]

    async def search_documents(self, agent_ids: Sequence[str]) -> list[SearchDocument]:
        """Current search cards of the given agents (those that exist)."""
        rows = await self._conn.fetch(AGENT_SQL, list(agent_ids))
        return [
            SearchDocument(
                agent_id=r["agent_id"],
                name=r["name"],
                description=r["description"],
                owner_team=r["owner_team"],
                type=r["type"],
                status=r["status"],
                current_version=r["current_version"],
                tags=list(r["tags"]),
                regulatory_scope=list(r["regulatory_scope"]),
            )
            for r in rows
        ]
