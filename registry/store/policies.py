"""The policy repository on PostgreSQL: the current YAML of each policy and its full history."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from registry.store.agents import Conn
from registry.store.port import PolicyChange

if TYPE_CHECKING:
    from registry.control_plane.policies import PolicyHeader


class PgPolicies:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def insert_if_absent(self, header: PolicyHeader, source: str, at: datetime) -> bool:
        return bool(
            await self._conn.fetchval(
                "INSERT INTO policies (policy_id, type, name, enabled, revision, source,"
                " created_at, updated_at) VALUES ($1,$2,$3,$4,1,$5,$6,$6)"
                " ON CONFLICT (policy_id) DO NOTHING RETURNING true",
                header.policy_id,
                header.type,
                header.name,
                header.enabled,
                source,
                at,
            )
        )

    async def claim_setup_step(self, step: str, at: datetime) -> bool:
        return bool(
            await self._conn.fetchval(
                "INSERT INTO setup_steps (step, done_at) VALUES ($1, $2)"
                " ON CONFLICT (step) DO NOTHING RETURNING true",
                step,
                at,
            )
        )

    async def lock(self, policy_id: str) -> dict[str, Any] | None:
        row = await self._conn.fetchrow(
            "SELECT enabled, revision, source FROM policies WHERE policy_id = $1 FOR UPDATE",
            policy_id,
        )
        return dict(row) if row else None

    async def set_enabled(self, policy_id: str, enabled: bool, revision: int, at: datetime) -> None:
        await self._conn.execute(
            "UPDATE policies SET enabled = $2, revision = $3, updated_at = $4 WHERE policy_id = $1",
            policy_id,
            enabled,
            revision,
            at,
        )

    async def add_history(self, change: PolicyChange) -> None:
        await self._conn.execute(
            "INSERT INTO policy_history (policy_id, revision, change, enabled, source, actor,"
            " reason, at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
            change.policy_id,
            change.revision,
            change.change,
            change.enabled,
            change.source,
            change.actor,
            change.reason,
            change.at,
        )

    async def list_all(self) -> list[dict[str, Any]]:
        rows = await self._conn.fetch(
            "SELECT policy_id, type, name, enabled, revision, updated_at FROM policies"
            " ORDER BY policy_id"
        )
        return [dict(r) for r in rows]

    async def get(self, policy_id: str) -> dict[str, Any] | None:
        row = await self._conn.fetchrow("SELECT * FROM policies WHERE policy_id = $1", policy_id)
        return dict(row) if row else None

    async def history(self, policy_id: str) -> list[dict[str, Any]]:
        rows = await self._conn.fetch(
            "SELECT revision, change, enabled, actor, reason, at FROM policy_history"
            " WHERE policy_id = $1 ORDER BY revision",
            policy_id,
        )
        return [dict(r) for r in rows]

    async def sources(self) -> list[tuple[str, str, bool]]:
        rows = await self._conn.fetch("SELECT policy_id, source, enabled FROM policies ORDER BY 1")
        return [(r["policy_id"], r["source"], r["enabled"]) for r in rows]
