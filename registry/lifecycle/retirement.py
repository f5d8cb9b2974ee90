"""The end of a version's life: deprecate (a notice with a sunset date and a replacement), retire
(refused while deployments are live unless they are stopped with it) and the sunset sweep that
retires deprecated versions once their sunset passed."""

from __future__ import annotations

import structlog

from registry.auth.models import Role
from registry.auth.principal import Context, Principal
from registry.catalog.models import AgentStatus, AgentVersion
from registry.catalog.service import RegistryService
from registry.errors import Conflict, Problem, ValidationFailed
from registry.lifecycle import rules
from registry.lifecycle.base import LifecycleBase, Locked, now
from registry.lifecycle.models import Deployment, DeprecateRequest, Desired, RetireRequest
from registry.store.port import Session

log = structlog.get_logger("registry.lifecycle")
SWEEPER = Context(Principal("lifecycle", "sunset-sweeper", Role.SERVICE, None))


class RetirementService(LifecycleBase):
    async def deprecate(
        self, ctx: Context, agent_id: str, version: str, req: DeprecateRequest
    ) -> AgentVersion:
        """Self-service for the owner team: status deprecated with sunset and replacement."""
        if refusal := rules.sunset_refusal(req.sunset, now()):
            raise ValidationFailed(refusal)
        async with self.store.transaction() as tx:
            locked = await self._lock(tx, agent_id, version)
            self._require(
                rules.may_manage(ctx.principal, locked.owner_team),
                f"deprecating needs role publisher of team {locked.owner_team!r} or admin",
            )
            if refusal := rules.deprecate_refusal(locked.version):
                raise Conflict(refusal)
            if req.replacement and await tx.agents.entry(req.replacement) is None:
                raise ValidationFailed(f"replacement agent {req.replacement!r} is not registered")
            v, at = locked.version, now()
            await tx.versions.set_deprecation(
                agent_id, version, req.sunset, req.replacement, req.reason, at
            )
            await self._announce(
                tx,
                ctx,
                "version.deprecate",
                f"{agent_id}@{version}",
                agent_id,
                locked.owner_team,
                event="version.deprecated",
                before={"status": v.status.value, "sunset_at": _iso(v)},
                after={
                    "status": AgentStatus.DEPRECATED.value,
                    "deprecated_at": (v.deprecated_at or at).isoformat(),
                    "sunset_at": req.sunset.isoformat(),
                    "replacement_agent_id": req.replacement,
                },
                reason=req.reason or None,
            )
        await self._committed(agent_id)
        return await self.catalog.get_version(agent_id, version)

    async def retire(
        self, ctx: Context, agent_id: str, version: str, req: RetireRequest
    ) -> AgentVersion:
        """Refused (409) while deployments of the version are live, unless `undeploy`: then
        their stop is requested in the same transaction."""
        async with self.store.transaction() as tx:
            locked = await self._lock(tx, agent_id, version)
            self._require(
                rules.may_retire(ctx.principal, locked.owner_team),
                "retiring needs role approver or admin, or publisher of team"
                f" {locked.owner_team!r}",
            )
            if refusal := rules.retire_refusal(locked.version):
                raise Conflict(refusal)
            if not req.undeploy:
                await RegistryService._refuse_live(tx, agent_id, version)
            live = await self._running(tx, agent_id, version)
            await self._retire(tx, ctx, locked, live, req.reason or "retired")
        await self._committed(agent_id)
        return await self.catalog.get_version(agent_id, version)

    async def _retire(
        self, tx: Session, ctx: Context, locked: Locked, live: list[Deployment], reason: str
    ) -> None:
        agent_id, v, at = locked.agent_id, locked.version, now()
        for d in live:
            await tx.deployments.request_stop(d.deployment_id, f"version retired: {reason}", at)
        await tx.versions.set_status(agent_id, v.version, AgentStatus.RETIRED, reason, at)
        await self._announce(
            tx,
            ctx,
            "version.retire",
            f"{agent_id}@{v.version}",
            agent_id,
            locked.owner_team,
            event="version.retired",
            before={"status": v.status.value},
            after={
                "status": AgentStatus.RETIRED.value,
                "stopped_deployments": [d.deployment_id for d in live],
            },
            reason=reason,
        )

    @staticmethod
    async def _running(tx: Session, agent_id: str, version: str) -> list[Deployment]:
        """Deployments of the version meant to run (stopping ones are on their way out)."""
        live = await tx.deployments.live_for(agent_id, version)
        return [d for d in live if d.desired is Desired.RUNNING]

    # -- the sunset sweep ----------------------------------------------------------------------

    async def sweep_sunsets(self, limit: int = 100) -> int:
        """Retire deprecated versions whose sunset passed (stopping their deployments); returns
        how many. Each version is its own transaction, checked again under its lock."""
        retired = 0
        for agent_id, version in await self.store.versions.sunset_due(now(), limit):
            try:
                retired += await self._sunset(agent_id, version)
            except Problem as exc:  # e.g. the agent was deleted meanwhile
                log.info("sunset_skipped", agent_id=agent_id, version=version, detail=exc.detail)
        return retired

    async def _sunset(self, agent_id: str, version: str) -> int:
        async with self.store.transaction() as tx:
            locked = await self._lock(tx, agent_id, version)
            v = locked.version
            if v.status is not AgentStatus.DEPRECATED or v.sunset_at is None:
                return 0
            if v.sunset_at > now():
                return 0
            live = await self._running(tx, agent_id, version)
            reason = f"sunset passed ({v.sunset_at.isoformat()})"
            await self._retire(tx, SWEEPER, locked, live, reason)
        await self._committed(agent_id)
        return 1


def _iso(v: AgentVersion) -> str | None:
    return v.sunset_at.isoformat() if v.sunset_at else None
