"""Reading agents and versions out of PostgreSQL into API models."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeAlias

import asyncpg
import semver

from registry.models import AgentSummary, AgentVersion, RegistryEntry
from registry.ports import SearchDocument

Conn: TypeAlias = "asyncpg.Connection | asyncpg.Pool"

AGENT_SQL = """
SELECT a.*, v.status
FROM agents a JOIN agent_versions v ON v.agent_id = a.agent_id AND v.version = a.current_version
WHERE a.agent_id = ANY($1::text[])
"""

VERSIONS_SQL = """
SELECT v.agent_id, v.version, v.status, v.spec_hash, v.artifact_uri, v.artifact_sha256,
       v.artifact_size, v.changelog, v.status_reason, v.created_at, v.created_by, v.updated_at,
       v.row_version, c.certificate_id, c.expires_at AS certificate_expires_at,
       coalesce(c.expires_at > now(), false) AS certified
FROM agent_versions v
LEFT JOIN LATERAL (
    SELECT certificate_id, expires_at FROM certificates c
    WHERE c.agent_id = v.agent_id AND c.version = v.version
    ORDER BY expires_at DESC LIMIT 1
) c ON true
WHERE v.agent_id = ANY($1::text[]) {extra}
"""


def semver_key(version: str) -> semver.Version:
    return semver.Version.parse(version)


def _version(row: asyncpg.Record) -> AgentVersion:
    return AgentVersion.model_validate({k: row[k] for k in row.keys() if k != "agent_id"})


def _summary_fields(row: asyncpg.Record) -> dict[str, Any]:
    fields = dict(row)
    usage = fields.get("usage_stats")
    fields["usage_stats"] = json.loads(usage) if isinstance(usage, str) else (usage or {})
    return fields


async def fetch_versions(
    conn: Conn, agent_ids: Sequence[str], version: str | None = None
) -> dict[str, list[AgentVersion]]:
    """Versions per agent in semver order (oldest first)."""
    if version is None:
        rows = await conn.fetch(VERSIONS_SQL.format(extra=""), list(agent_ids))
    else:
        rows = await conn.fetch(
            VERSIONS_SQL.format(extra="AND v.version = $2"), list(agent_ids), version
        )
    out: dict[str, list[AgentVersion]] = {a: [] for a in agent_ids}
    for row in rows:
        out[row["agent_id"]].append(_version(row))
    for versions in out.values():
        versions.sort(key=lambda v: semver_key(v.version))
    return out


async def fetch_entries(conn: Conn, agent_ids: Sequence[str]) -> list[RegistryEntry]:
    """Full entries for the given ids, in the order given; unknown ids are left out."""
    if not agent_ids:
        return []
    rows = await conn.fetch(AGENT_SQL, list(agent_ids))
    versions = await fetch_versions(conn, [r["agent_id"] for r in rows])
    by_id = {
        r["agent_id"]: RegistryEntry(**_summary_fields(r), versions=versions[r["agent_id"]])
        for r in rows
    }
    return [by_id[a] for a in agent_ids if a in by_id]


async def fetch_entry(conn: Conn, agent_id: str) -> RegistryEntry | None:
    entries = await fetch_entries(conn, [agent_id])
    return entries[0] if entries else None


async def fetch_summary(conn: Conn, agent_id: str) -> AgentSummary | None:
    row = await conn.fetchrow(AGENT_SQL, [agent_id])
    return AgentSummary(**_summary_fields(row)) if row else None


async def search_documents(conn: Conn, agent_ids: Sequence[str]) -> list[SearchDocument]:
    """Current search cards of the given agents (those that exist)."""
    rows = await conn.fetch(AGENT_SQL, list(agent_ids))
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
