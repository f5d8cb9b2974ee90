"""API tokens: random secrets shown once, stored as sha256 (they are high-entropy, so a fast hash
is enough; no password-style stretching needed)."""

from __future__ import annotations

import getpass
import hashlib
import secrets
from typing import Any

from kernel.ttl_cache import TtlCache
from registry.audit.chain import AuditRecord
from registry.auth.models import Role
from registry.auth.principal import Principal
from registry.store.port import MetadataStore, TokenRepository

TOKEN_PREFIX = "glr_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(
    store: MetadataStore, role: Role, team: str | None = None, name: str | None = None
) -> tuple[Principal, str]:
    """Store a new token's hash; return the principal and the secret (never stored)."""
    token_id = secrets.token_hex(6)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    name = name or f"{role.value}-{token_id}"
    async with store.transaction() as tx:
        principal = Principal(token_id, name, role, team)
        await tx.tokens.insert(principal, hash_token(secret))
        await tx.audit.append(
            AuditRecord(
                actor=_operator(),
                action="token.create",
                target=f"token:{token_id}",
                after={"name": name, "role": role.value, "team": team},
            )
        )
    return principal, secret


async def revoke_token(store: MetadataStore, token_id: str) -> bool:
    """Mark a token revoked (kept for the record); False when no live token has that id."""
    async with store.transaction() as tx:
        name = await tx.tokens.revoke(token_id)
        if name is None:
            return False
        await tx.audit.append(
            AuditRecord(
                actor=_operator(),
                action="token.revoke",
                target=f"token:{token_id}",
                after={"name": name},
            )
        )
    return True


async def list_tokens(store: MetadataStore) -> list[dict[str, Any]]:
    return await store.tokens.list_all()


def _operator() -> str:
    """Token commands run with database access, not a token: record the OS user instead."""
    return f"cli:{getpass.getuser()}"


class TokenResolver:
    """Looks tokens up by hash, with a short cache so every request does not hit the database.

    A revoked token stays usable for at most `ttl` seconds."""

    def __init__(self, tokens: TokenRepository, ttl: float = 10.0, max_entries: int = 10_000):
        self._tokens = tokens
        # Values are 1-tuples so that "unknown token" can be cached too.
        self._cache: TtlCache[str, tuple[Principal | None]] = TtlCache(ttl, max_entries)

    async def resolve(self, token: str) -> Principal | None:
        digest = hash_token(token)
        hit = self._cache.get(digest)
        if hit is not None:
            return hit[0]
        principal = await self._tokens.by_hash(digest)
        self._cache.put(digest, (principal,))
        return principal
