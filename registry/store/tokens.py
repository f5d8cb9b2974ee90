"""The API token repository on PostgreSQL: token hashes only, never secrets."""

from __future__ import annotations

from typing import Any

from registry.auth.models import Role
from registry.auth.principal import Principal
from registry.store.agents import Conn


class PgTokens:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def insert(self, identity: Principal, token_hash: str) -> None:
        await self._conn.execute(
            "INSERT INTO api_tokens (token_id, name, role, team, token_hash)"
            " VALUES ($1,$2,$3,$4,$5)",
            identity.token_id,
            identity.name,
            identity.role.value,
            identity.team,
            token_hash,
        )

    async def revoke(self, token_id: str) -> str | None:
        name: str | None = await self._conn.fetchval(
            "UPDATE api_tokens SET revoked_at = now() WHERE token_id = $1 AND revoked_at IS NULL"
            " RETURNING name",
            token_id,
        )
        return name

    async def by_hash(self, token_hash: str) -> Principal | None:
        row = await self._conn.fetchrow(
            "SELECT token_id, name, role, team FROM api_tokens"
            " WHERE token_hash = $1 AND revoked_at IS NULL",
            token_hash,
        )
        if row is None:
            return None
        return Principal(row["token_id"], row["name"], Role(row["role"]), row["team"])

    async def list_all(self) -> list[dict[str, Any]]:
        rows = await self._conn.fetch(
            "SELECT token_id, name, role, team, created_at, revoked_at FROM api_tokens"
            " ORDER BY created_at"
        )
        return [dict(r) for r in rows]

    async def live_bindings(self) -> list[dict[str, Any]]:
        rows = await self._conn.fetch(
            "SELECT name, role, team FROM api_tokens WHERE revoked_at IS NULL"
            " ORDER BY created_at, token_id"
        )
        return [dict(r) for r in rows]
