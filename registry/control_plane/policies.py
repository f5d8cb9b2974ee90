"""Policies kept in the registry: created from YAML, enabled and disabled, with full history.

Each change is one transaction with its audit event; the bundle served to OPA is rebuilt from
what is stored here, so every change yields a new bundle revision."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from registry.audit.chain import AuditRecord
from registry.auth.models import Role
from registry.auth.principal import Context
from registry.errors import Conflict, Forbidden, NotFound, ValidationFailed
from registry.store.port import MetadataStore, PolicyChange, Session


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


def _row(r: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()}


class PolicyStore:
    def __init__(self, store: MetadataStore, validate: Validator):
        self.store = store
        self._validate = validate

    async def create(self, ctx: Context, source: str, reason: str | None = None) -> dict[str, Any]:
        _require_policy_role(ctx)
        try:
            header = self._validate(source, "request")
        except ValueError as exc:
            raise ValidationFailed(f"invalid policy: {exc}") from None
        now = datetime.now(UTC)
        async with self.store.transaction() as tx:
            if not await tx.policies.insert_if_absent(header, source, now):
                raise Conflict(f"policy {header.policy_id!r} already exists")
            await self._history(
                tx, ctx, header.policy_id, 1, "create", header.enabled, source, reason, now
            )
        return await self.get(header.policy_id)

    async def install_once(
        self, ctx: Context, step: str, documents: list[tuple[str, str]]
    ) -> list[str] | None:
        """Once per database (`step`, migration 008): create each (name, YAML) policy the
        registry does not have, in one transaction with a `policy.install` audit event naming
        what it created. None when the step was done before, by any process: a policy an
        operator has since disabled stays disabled."""
        headers = [(self._validate(text, name), text, name) for name, text in documents]
        now = datetime.now(UTC)
        async with self.store.transaction() as tx:
            if not await tx.policies.claim_setup_step(step, now):
                return None
            created = []
            for header, text, name in headers:
                if await tx.policies.insert_if_absent(header, text, now):
                    reason = f"{step}: {name}"
                    await self._history(
                        tx, ctx, header.policy_id, 1, "create", header.enabled, text, reason, now
                    )
                    created.append(header.policy_id)
            await tx.audit.append(
                AuditRecord(
                    actor=ctx.principal.actor,
                    action="policy.install",
                    target=f"setup:{step}",
                    after={"created": created, "documents": [n for n, _ in documents]},
                    request_id=ctx.request_id,
                    at=now,
                )
            )
        return created

    async def set_enabled(
        self, ctx: Context, policy_id: str, enabled: bool, reason: str | None = None
    ) -> dict[str, Any]:
        _require_policy_role(ctx)
        now = datetime.now(UTC)
        async with self.store.transaction() as tx:
            row = await tx.policies.lock(policy_id)
            if row is None:
                raise NotFound(f"policy {policy_id!r} does not exist")
            if row["enabled"] == enabled:
                state = "enabled" if enabled else "disabled"
                raise Conflict(f"policy {policy_id!r} is already {state}")
            revision = row["revision"] + 1
            await tx.policies.set_enabled(policy_id, enabled, revision, now)
            change = "enable" if enabled else "disable"
            await self._history(
                tx, ctx, policy_id, revision, change, enabled, row["source"], reason, now
            )
        return await self.get(policy_id)

    async def _history(
        self,
        tx: Session,
        ctx: Context,
        policy_id: str,
        revision: int,
        change: str,
        enabled: bool,
        source: str,
        reason: str | None,
        at: datetime,
    ) -> None:
        actor = ctx.principal.actor
        await tx.policies.add_history(
            PolicyChange(policy_id, revision, change, enabled, source, actor, reason, at)
        )
        await tx.audit.append(
            AuditRecord(
                actor=actor,
                action=f"policy.{change}",
                target=f"policy:{policy_id}",
                after={"revision": revision, "enabled": enabled},
                reason=reason,
                request_id=ctx.request_id,
                at=at,
            )
        )

    async def list_all(self) -> list[dict[str, Any]]:
        return [_row(r) for r in await self.store.policies.list_all()]

    async def get(self, policy_id: str) -> dict[str, Any]:
        row = await self.store.policies.get(policy_id)
        if row is None:
            raise NotFound(f"policy {policy_id!r} does not exist")
        history = await self.store.policies.history(policy_id)
        return {**_row(row), "history": [_row(h) for h in history]}

    async def sources(self) -> list[tuple[str, str, bool]]:
        """(policy_id, YAML, enabled) of every stored policy, for building bundles."""
        return await self.store.policies.sources()
