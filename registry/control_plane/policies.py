"""Policies kept in the registry: created from YAML, enabled and disabled, with full history.

Each change is one transaction with its audit event; the bundle served to OPA is rebuilt from
what is stored here, so every change yields a new bundle revision."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from registry.audit import chain as audit
from registry.catalog.models import Role
from registry.catalog.service import Context
from registry.errors import Conflict, Forbidden, NotFound, ValidationFailed


@dataclass(frozen=True)
class PolicyHeader:
    """What the registry needs to know of a validated policy document."""

    policy_id: str
    type: str
    name: str
    enabled: bool


Validator = Callable[[str, str], PolicyHeader]  # (yaml text, source name) -> header or raise


def _require_policy_role(ctx: Context) -> None:
    if ctx.principal.role not in (Role.APPROVER, Role.ADMIN):
        raise Forbidden("changing policies needs role approver or admin")


def _row(r: asyncpg.Record) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(r).items()}


class PolicyStore:
    def __init__(self, pool: asyncpg.Pool, validate: Validator):
        self.pool = pool
        self._validate = validate

    async def create(self, ctx: Context, source: str, reason: str | None = None) -> dict[str, Any]:
        _require_policy_role(ctx)
        try:
            header = self._validate(source, "request")
        except ValueError as exc:
            raise ValidationFailed(f"invalid policy: {exc}") from None
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                "INSERT INTO policies (policy_id, type, name, enabled, revision, source,"
                " created_at, updated_at) VALUES ($1,$2,$3,$4,1,$5,$6,$6)"
                " ON CONFLICT (policy_id) DO NOTHING RETURNING true",
                header.policy_id,
                header.type,
                header.name,
                header.enabled,
                source,
                now,
            )
            if not inserted:
                raise Conflict(f"policy {header.policy_id!r} already exists")
            await self._history(
                conn, ctx, header.policy_id, 1, "create", header.enabled, source, reason, now
            )
        return await self.get(header.policy_id)

    async def set_enabled(
        self, ctx: Context, policy_id: str, enabled: bool, reason: str | None = None
    ) -> dict[str, Any]:
        _require_policy_role(ctx)
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT enabled, revision, source FROM policies WHERE policy_id = $1 FOR UPDATE",
                policy_id,
            )
            if row is None:
                raise NotFound(f"policy {policy_id!r} does not exist")
            if row["enabled"] == enabled:
                state = "enabled" if enabled else "disabled"
                raise Conflict(f"policy {policy_id!r} is already {state}")
            revision = row["revision"] + 1
            await conn.execute(
                "UPDATE policies SET enabled = $2, revision = $3, updated_at = $4"
                " WHERE policy_id = $1",
                policy_id,
                enabled,
                revision,
                now,
            )
            change = "enable" if enabled else "disable"
            await self._history(
                conn, ctx, policy_id, revision, change, enabled, row["source"], reason, now
            )
        return await self.get(policy_id)

    async def _history(
        self,
        conn: asyncpg.Connection,
        ctx: Context,
        policy_id: str,
        revision: int,
        change: str,
        enabled: bool,
        source: str,
        reason: str | None,
        at: datetime,
    ) -> None:
        await conn.execute(
            "INSERT INTO policy_history (policy_id, revision, change, enabled, source, actor,"
            " reason, at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
            policy_id,
            revision,
            change,
            enabled,
            source,
            ctx.principal.actor,
            reason,
            at,
        )
        await audit.append(
            conn,
            audit.AuditRecord(
                actor=ctx.principal.actor,
                action=f"policy.{change}",
                target=f"policy:{policy_id}",
                after={"revision": revision, "enabled": enabled},
                reason=reason,
                request_id=ctx.request_id,
                at=at,
            ),
        )

    async def list_all(self) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT policy_id, type, name, enabled, revision, updated_at FROM policies"
            " ORDER BY policy_id"
        )
        return [_row(r) for r in rows]

    async def get(self, policy_id: str) -> dict[str, Any]:
        row = await self.pool.fetchrow("SELECT * FROM policies WHERE policy_id = $1", policy_id)
        if row is None:
            raise NotFound(f"policy {policy_id!r} does not exist")
        history = await self.pool.fetch(
            "SELECT revision, change, enabled, actor, reason, at FROM policy_history"
            " WHERE policy_id = $1 ORDER BY revision",
            policy_id,
        )
        return {**_row(row), "history": [_row(h) for h in history]}

    async def sources(self) -> list[tuple[str, str, bool]]:
        """(policy_id, YAML, enabled) of every stored policy, for building bundles."""
        rows = await self.pool.fetch("SELECT policy_id, source, enabled FROM policies ORDER BY 1")
        return [(r["policy_id"], r["source"], r["enabled"]) for r in rows]
