"""API tokens: random secrets shown once, stored as sha256 (they are high-entropy, so a fast hash
is enough; no password-style stretching needed)."""

from __future__ import annotations

import getpass
import hashlib
import secrets
from dataclasses import dataclass

import asyncpg

from kernel.ttl_cache import TtlCache
from registry import audit
from registry.models import Role

TOKEN_PREFIX = "glr_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved from a token."""

    token_id: str
    name: str
    role: Role
    team: str | None

    @property
    def actor(self) -> str:
        return f"{self.name} ({self.role.value})"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(
    pool: asyncpg.Pool, role: Role, team: str | None = None, name: str | None = None
) -> tuple[Principal, str]:
    """Store a new token's hash; return the principal and the secret (never stored)."""
    token_id = secrets.token_hex(6)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    name = name or f"{role.value}-{token_id}"
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO api_tokens (token_id, name, role, team, token_hash)"
            " VALUES ($1,$2,$3,$4,$5)",
            token_id,
            name,
            role.value,
            team,
            hash_token(secret),
        )
        await audit.append(
            conn,
            audit.AuditRecord(
                actor=_operator(),
                action="token.create",
                target=f"token:{token_id}",
                after={"name": name, "role": role.value, "team": team},
            ),
        )
    return Principal(token_id, name, role, team), secret


async def revoke_token(pool: asyncpg.Pool, token_id: str) -> bool:
    """Mark a token revoked (kept for the record); False when no live token has that id."""
    async with pool.acquire() as conn, conn.transaction():
        name = await conn.fetchval(
            "UPDATE api_tokens SET revoked_at = now() WHERE token_id = $1 AND revoked_at IS NULL"
            " RETURNING name",
            token_id,
        )
        if name is None:
            return False
        await audit.append(
            conn,
            audit.AuditRecord(
                actor=_operator(),
                action="token.revoke",
                target=f"token:{token_id}",
                after={"name": name},
            ),
        )
    return True


async def list_tokens(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT token_id, name, role, team, created_at, revoked_at FROM api_tokens"
        " ORDER BY created_at"
    )


def _operator() -> str:
    """Token commands run with database access, not a token: record the OS user instead."""
    return f"cli:{getpass.getuser()}"


class TokenResolver:
    """Looks tokens up by hash, with a short cache so every request does not hit the database.

    A revoked token stays usable for at most `ttl` seconds."""

    def __init__(self, pool: asyncpg.Pool, ttl: float = 10.0, max_entries: int = 10_000):
        self._pool = pool
        # Values are 1-tuples so that "unknown token" can be cached too.
        self._cache: TtlCache[str, tuple[Principal | None]] = TtlCache(ttl, max_entries)

    async def resolve(self, token: str) -> Principal | None:
        digest = hash_token(token)
        hit = self._cache.get(digest)
        if hit is not None:
            return hit[0]
        row = await self._pool.fetchrow(
            "SELECT token_id, name, role, team FROM api_tokens"
            " WHERE token_hash = $1 AND revoked_at IS NULL",
            digest,
        )
        principal = (
            Principal(row["token_id"], row["name"], Role(row["role"]), row["team"]) if row else None
        )
        self._cache.put(digest, (principal,))
        return principal
