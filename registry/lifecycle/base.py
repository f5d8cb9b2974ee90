"""What every lifecycle operation shares: the catalog it changes, the policy gate, deployment
reads, the locks taken in one order (version, then agent, then deployment) and `_announce`, the
one place a lifecycle change is audited (and, later, sent to webhook subscribers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from registry.auth.principal import Context
from registry.canary.models import Canary
from registry.catalog.models import AgentVersion
from registry.catalog.service import RegistryService
from registry.errors import Conflict, Forbidden, NotFound
from registry.lifecycle.models import Deployment, DeploymentStatus
from registry.lifecycle.policy_gate import PolicyGate
from registry.store.port import Session
from registry.webhooks.models import EVENTS as WEBHOOK_EVENTS


def now() -> datetime:
    return datetime.now(UTC)


def _payload(agent_id: str, target: str, after: Any, reason: str | None) -> dict[str, Any]:
    """A webhook's `data`: the agent, the version or deployment changed, the new state."""
    agent, _, version = target.partition("@")
    data: dict[str, Any] = {"agent_id": agent_id}
    data |= {"version": version} if version and agent == agent_id else {"target": target}
    if isinstance(after, dict):
        data |= after
    return data | {"reason": reason}


@dataclass(frozen=True)
class Locked:
    """A version and its agent, both rows locked until the transaction ends."""

    agent_id: str
    version: AgentVersion
    owner_team: str


class LifecycleBase:
    def __init__(
        self, catalog: RegistryService, gate: PolicyGate, default_deployer: str = "process"
    ) -> None:
        self.catalog = catalog
        self.store = catalog.store
        self.gate = gate
        self.default_deployer = default_deployer

    # -- reads -------------------------------------------------------------------------------

    async def get_deployment(self, deployment_id: str) -> Deployment:
        found = await self.store.deployments.get(deployment_id)
        if found is None:
            raise NotFound(f"deployment {deployment_id!r} does not exist")
        return found

    async def list_deployments(
        self,
        agent_id: str | None = None,
        environment: str | None = None,
        status: DeploymentStatus | None = None,
        limit: int = 100,
    ) -> list[Deployment]:
        return await self.store.deployments.list(agent_id, environment, status, limit)

    # -- locks -------------------------------------------------------------------------------

    async def _lock(self, tx: Session, agent_id: str, version: str) -> Locked:
        """Lock the version, then its agent (the catalog's order); 404 / 409 (deleted)."""
        if await tx.versions.lock(agent_id, version) is None:
            await self.catalog.get_version(agent_id, version)  # the precise 404
            raise NotFound(f"agent {agent_id!r} has no version {version!r}")
        agent = await tx.agents.lock(agent_id)
        assert agent is not None  # the version row references it
        if agent.deleted_at is not None:
            raise Conflict(f"agent {agent_id!r} was deleted")
        found = await tx.versions.get(agent_id, version)
        assert found is not None
        return Locked(agent_id, found, agent.owner_team)

    @staticmethod
    async def _active_canary(tx: Session, agent_id: str, environment: str) -> Canary | None:
        return await tx.canaries.active_for(agent_id, environment)

    async def _no_canary(self, tx: Session, agent_id: str, environment: str) -> None:
        """409 while a canary is under way: it decides what serves that environment."""
        if (active := await self._active_canary(tx, agent_id, environment)) is not None:
            raise Conflict(
                f"canary {active.canary_id} of {agent_id} in {environment} is"
                f" {active.status.value}; promote or abort it first"
            )

    @staticmethod
    def _require(allowed: bool, what: str) -> None:
        if not allowed:
            raise Forbidden(what)

    # -- the one announcement point ------------------------------------------------------------

    async def _announce(
        self,
        tx: Session,
        ctx: Context,
        action: str,
        target: str,
        agent_id: str,
        team: str,
        *,
        event: str | None = None,
        before: Any = None,
        after: Any = None,
        reason: str | None = None,
    ) -> None:
        """Audit a lifecycle change in the caller's transaction, queue the agent for the search
        index and, when `event` is one subscribers can ask for (registry/webhooks/models.py),
        queue its webhook deliveries: a change and its notifications commit together."""
        if event in WEBHOOK_EVENTS:
            await tx.webhooks.enqueue_event(
                agent_id, team, event, _payload(agent_id, target, after, reason), now()
            )
        await self.catalog._record(tx, ctx, action, target, agent_id, before, after, reason)

    async def _serve(
        self, tx: Session, ctx: Context, agent_id: str, team: str, version: str, by: str
    ) -> None:
        """Make `version` the agent's serving version, audited as `agent.serve`: the bundle's
        catalog changes with it (deployment.* events do not rebuild the bundle)."""
        await tx.agents.make_current(agent_id, version, now())
        await self._announce(
            tx, ctx, "agent.serve", f"{agent_id}@{version}", agent_id, team,
            after={"current_version": version, "deployment_id": by},
        )  # fmt: skip

    async def _committed(self, agent_id: str) -> None:
        """After the commit: the catalog's caches and search index see the change."""
        await self.catalog._committed(agent_id)
