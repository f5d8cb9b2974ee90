"""Deployments: promote (deploy a version to an environment, asking the deployment policies),
approve, undeploy and roll back. Each is one transaction with its audit event; a policy denial
is committed (the deployment waits, pending, for approvals) and then raised as a 403."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bundles.engines.embedded import EmbeddedEngine
from registry.auth.principal import Context
from registry.catalog.models import AgentStatus
from registry.errors import Conflict, PolicyDenied, ValidationFailed
from registry.lifecycle import rules
from registry.lifecycle.base import LifecycleBase, Locked, now
from registry.lifecycle.models import (
    Approval,
    ApprovalRequest,
    Deployment,
    DeploymentStatus,
    DeployRequest,
    Desired,
    RollbackRequest,
)
from registry.lifecycle.rules import Decision
from registry.store.port import NewDeployment, Session

PENDING = DeploymentStatus.PENDING


@dataclass(frozen=True)
class Outcome:
    deployment: Deployment
    created: bool
    decision: Decision | None = None  # None: no policy decision was taken (nothing changed)


def new_deployment_id() -> str:
    return f"dep-{secrets.token_hex(6)}"


def denial(deployment: Deployment, decision: Decision) -> PolicyDenied:
    ids = ", ".join(sorted({v.policy_id for v in decision.violations}))
    return PolicyDenied(
        f"deployment {deployment.deployment_id} is pending: denied by {ids}",
        violations=[v.model_dump() for v in decision.violations],
        warnings=[v.model_dump() for v in decision.warnings],
        deployment_id=deployment.deployment_id,
    )


class DeploymentService(LifecycleBase):
    async def promote(self, ctx: Context, agent_id: str, req: DeployRequest) -> Outcome:
        """201 a new deployment, 200 the live one of that version and environment (a pending one
        is judged again); a denial raises PolicyDenied after the pending deployment committed."""
        deployer = req.deployer or self.default_deployer
        if deployer not in rules.DEPLOYERS:
            known = ", ".join(sorted(rules.DEPLOYERS))
            raise ValidationFailed(f"unknown deployer {deployer!r} (known: {known})")
        engine = await self.gate.engine()
        async with self.store.transaction() as tx:
            locked = await self._lock(tx, agent_id, req.version)
            self._require(
                rules.may_manage(ctx.principal, locked.owner_team),
                f"promoting needs role publisher of team {locked.owner_team!r} or admin",
            )
            if refusal := rules.deploy_refusal(locked.version):
                raise Conflict(refusal)
            await self._no_canary(tx, agent_id, req.environment)
            live = await tx.deployments.live_for(agent_id, environment=req.environment)
            existing = next((d for d in live if d.version == req.version), None)
            if existing is None:
                outcome = await self._create(tx, ctx, engine, locked, req, deployer, live)
            else:
                outcome = await self._again(tx, ctx, engine, locked, existing)
        await self._committed(agent_id)
        return self._checked(outcome)

    @staticmethod
    def _checked(outcome: Outcome) -> Outcome:
        if outcome.decision is not None and not outcome.decision.allowed:
            raise denial(outcome.deployment, outcome.decision)
        return outcome

    async def _create(
        self,
        tx: Session,
        ctx: Context,
        engine: EmbeddedEngine,
        locked: Locked,
        req: DeployRequest,
        deployer: str,
        live: Sequence[Deployment],
    ) -> Outcome:
        v, agent_id = locked.version, locked.agent_id
        decision = self._decide(engine, ctx, locked, agent_id, req.environment, ctx.principal.name)
        replaced = rules.to_replace(live, v.version)
        new = NewDeployment(
            deployment_id=new_deployment_id(),
            agent_id=agent_id,
            version=v.version,
            environment=req.environment,
            replicas=req.replicas,
            deployer=deployer,
            status=decision.status,
            requested_by=ctx.principal.name,
            replaces=replaced.deployment_id if replaced else None,
            violations=decision.violations,
            at=now(),
        )
        if not await tx.deployments.insert(new):
            raise Conflict(f"{agent_id} {v.version} was just deployed to {req.environment}; retry")
        await self._announce(
            tx,
            ctx,
            "deployment.create",
            new.deployment_id,
            agent_id,
            locked.owner_team,
            event="deployment.created",
            after=self._summary(new.deployment_id, new.version, req.environment, decision)
            | {"replicas": new.replicas, "deployer": deployer, "replaces": new.replaces},
        )
        if decision.allowed:
            await self._accept(tx, ctx, locked, agent_id, req.environment, new.deployment_id)
        return await self._outcome(tx, new.deployment_id, True, decision)

    async def _again(
        self, tx: Session, ctx: Context, engine: EmbeddedEngine, locked: Locked, d: Deployment
    ) -> Outcome:
        """A promote of what is already live: the same deployment; a pending one is judged
        again (a certificate may have been issued meanwhile)."""
        if d.desired is Desired.STOPPED:
            raise Conflict(
                f"deployment {d.deployment_id} of {d.version} in {d.environment} is stopping;"
                " promote again once it stopped"
            )
        if d.status is not PENDING:
            return Outcome(d, created=False)
        decision = await self._judge(tx, ctx, engine, locked, d)
        return await self._outcome(tx, d.deployment_id, False, decision)

    async def _judge(
        self, tx: Session, ctx: Context, engine: EmbeddedEngine, locked: Locked, d: Deployment
    ) -> Decision:
        """Ask the policies again about a pending deployment (its row locked) and store the
        answer; allowed starts it."""
        decision = self._decide(
            engine,
            ctx,
            locked,
            d.agent_id,
            d.environment,
            d.requested_by,
            [a.approver for a in d.approvals],
        )
        await tx.deployments.set_decision(
            d.deployment_id, decision.status, decision.violations, now()
        )
        if decision.allowed:
            await self._announce(
                tx,
                ctx,
                "deployment.allow",
                d.deployment_id,
                d.agent_id,
                locked.owner_team,
                event="deployment.allowed",
                before={"status": d.status.value},
                after=self._summary(d.deployment_id, d.version, d.environment, decision),
            )
            if d.track == "stable":
                await self._accept(tx, ctx, locked, d.agent_id, d.environment, d.deployment_id)
            else:  # a canary runs (ACTIVE) but serves the agent only once promoted
                await self._activate(tx, ctx, locked, d.deployment_id)
        return decision

    def _decide(
        self,
        engine: EmbeddedEngine,
        ctx: Context,
        locked: Locked,
        agent_id: str,
        environment: str,
        requested_by: str,
        approvals: Sequence[str] = (),
    ) -> Decision:
        policy_input = rules.deploy_input(
            ctx.principal,
            locked.owner_team,
            locked.version,
            agent_id,
            environment,
            requested_by,
            approvals,
            now(),
        )
        return self.gate.decide(engine, policy_input)

    async def _accept(
        self,
        tx: Session,
        ctx: Context,
        locked: Locked,
        agent_id: str,
        environment: str,
        deployment_id: str,
    ) -> None:
        """An allowed deployment: a certified DRAFT becomes ACTIVE, and a production deployment
        of an ACTIVE version becomes the agent's serving version."""
        status = await self._activate(tx, ctx, locked, deployment_id)
        if rules.moves_serving_version(environment, status):
            await self._serve(tx, ctx, agent_id, locked.owner_team, locked.version.version,
                              deployment_id)  # fmt: skip

    async def _activate(
        self, tx: Session, ctx: Context, locked: Locked, deployment_id: str
    ) -> AgentStatus:
        """A certified DRAFT allowed to run becomes ACTIVE (the policies let only ACTIVE
        versions serve calls); the version's status after."""
        v = locked.version
        if not rules.activates(v):
            return v.status
        reason = f"promoted by deployment {deployment_id}"
        await tx.versions.set_status(locked.agent_id, v.version, AgentStatus.ACTIVE, reason, now())
        await self._announce(
            tx, ctx, "version.status", f"{locked.agent_id}@{v.version}", locked.agent_id,
            locked.owner_team, event="version.activated",
            before={"status": v.status.value}, after={"status": AgentStatus.ACTIVE.value},
            reason=reason,
        )  # fmt: skip
        return AgentStatus.ACTIVE

    @staticmethod
    def _summary(
        deployment_id: str, version: str, environment: str, decision: Decision
    ) -> dict[str, Any]:
        return {
            "deployment_id": deployment_id,
            "version": version,
            "environment": environment,
            "status": decision.status.value,
            "violations": [v.model_dump() for v in decision.violations],
            "warnings": [v.model_dump() for v in decision.warnings],
        }

    @staticmethod
    async def _outcome(
        tx: Session, deployment_id: str, created: bool, decision: Decision
    ) -> Outcome:
        stored = await tx.deployments.get(deployment_id)
        assert stored is not None
        shown = stored.model_copy(update={"warnings": list(decision.warnings)})
        return Outcome(shown, created, decision)

    # -- approvals -------------------------------------------------------------------------

    async def approve(self, ctx: Context, deployment_id: str, req: ApprovalRequest) -> Outcome:
        """Record an approval and judge the pending deployment again. Still denied is not an
        error here: the approval counted (or was the requester's own); the answer shows what
        is still missing."""
        self._require(rules.may_approve(ctx.principal), "approving needs role approver or admin")
        d = await self.get_deployment(deployment_id)
        engine = await self.gate.engine()
        async with self.store.transaction() as tx:
            locked = await self._lock(tx, d.agent_id, d.version)
            d = await self._locked_deployment(tx, deployment_id)
            if d.status is not PENDING:
                raise Conflict(
                    f"deployment {deployment_id} is {d.status.value}; only a pending deployment"
                    " awaits approvals"
                )
            approval = Approval(approver=ctx.principal.name, comment=req.comment, at=now())
            if not await tx.deployments.add_approval(deployment_id, approval):
                raise Conflict(f"{ctx.principal.name} already approved {deployment_id}")
            await self._announce(
                tx,
                ctx,
                "deployment.approve",
                deployment_id,
                d.agent_id,
                locked.owner_team,
                event="deployment.approved",
                after={"approver": approval.approver, "own": approval.approver == d.requested_by},
                reason=req.comment or None,
            )
            d = await self._locked_deployment(tx, deployment_id)
            decision = await self._judge(tx, ctx, engine, locked, d)
            outcome = await self._outcome(tx, deployment_id, False, decision)
        await self._committed(d.agent_id)
        return outcome

    @staticmethod
    async def _locked_deployment(tx: Session, deployment_id: str) -> Deployment:
        found = await tx.deployments.lock(deployment_id)
        assert found is not None  # deployments are never deleted
        return found

    # -- undeploy --------------------------------------------------------------------------

    async def undeploy(self, ctx: Context, deployment_id: str, reason: str = "") -> Deployment:
        """Request the stop (idempotent: a stopping or stopped deployment is returned as is)."""
        d = await self.get_deployment(deployment_id)
        async with self.store.transaction() as tx:
            # Who may, before anything about the agent's state: a stopped deployment of a
            # deleted agent is still answered (as is), and only to those who may stop it.
            agent = await tx.agents.lock(d.agent_id)
            assert agent is not None  # the deployment row references it
            self._require(
                rules.may_retire(ctx.principal, agent.owner_team),
                f"undeploying needs role approver or admin, or publisher of team"
                f" {agent.owner_team!r}",
            )
            d = await self._locked_deployment(tx, deployment_id)
            if d.desired is Desired.STOPPED:
                return d
            if agent.deleted_at is not None:  # deleting refuses live deployments; kept as a guard
                raise Conflict(f"agent {d.agent_id!r} was deleted")
            await tx.deployments.request_stop(deployment_id, reason or "undeployed", now())
            await self._announce(
                tx,
                ctx,
                "deployment.stop",
                deployment_id,
                d.agent_id,
                agent.owner_team,
                event="deployment.stop_requested",  # deployment.stopped: the controller
                before={"status": d.status.value},
                after={"desired": "stopped"},
                reason=reason or None,
            )
            stopped = await self._locked_deployment(tx, deployment_id)
        await self._committed(d.agent_id)
        return stopped

    # -- rollback --------------------------------------------------------------------------

    async def rollback(self, ctx: Context, agent_id: str, req: RollbackRequest) -> Deployment:
        """Deploy an earlier ACTIVE or DEPRECATED, certified version with the configuration of
        the deployment running in the environment, which it replaces; the serving version moves
        to it. An operator's emergency path: the deployment policies are not asked."""
        async with self.store.transaction() as tx:
            locked = await self._lock(tx, agent_id, req.to)
            self._require(
                rules.may_manage(ctx.principal, locked.owner_team),
                f"rolling back needs role publisher of team {locked.owner_team!r} or admin",
            )
            if refusal := rules.rollback_refusal(locked.version):
                raise Conflict(refusal)
            await self._no_canary(tx, agent_id, req.environment)
            live = await tx.deployments.live_for(agent_id, environment=req.environment)
            current = rules.to_replace(live, req.to)
            if already := next((d for d in live if d.version == req.to), None):
                raise Conflict(
                    f"{req.to} already has deployment {already.deployment_id} in"
                    f" {req.environment} ({already.status.value})"
                )
            if current is None:
                raise Conflict(f"{agent_id} has no running deployment in {req.environment}")
            new = NewDeployment(
                deployment_id=new_deployment_id(),
                agent_id=agent_id,
                version=req.to,
                environment=req.environment,
                replicas=current.replicas,
                deployer=current.deployer,
                status=DeploymentStatus.PROGRESSING,
                requested_by=ctx.principal.name,
                replaces=current.deployment_id,
                violations=(),
                at=now(),
            )
            if not await tx.deployments.insert(new):
                raise Conflict(f"{agent_id} {req.to} was just deployed to {req.environment}")
            if req.environment == rules.SERVING_ENVIRONMENT:
                await self._serve(tx, ctx, agent_id, locked.owner_team, req.to, new.deployment_id)
            await self._announce(
                tx,
                ctx,
                "deployment.rollback",
                new.deployment_id,
                agent_id,
                locked.owner_team,
                event="deployment.rolled_back",
                before={"version": current.version, "deployment_id": current.deployment_id},
                after={
                    "from": current.version,
                    "to": req.to,
                    "reason": req.reason,
                    "actor": ctx.principal.actor,
                    "environment": req.environment,
                    "deployment_id": new.deployment_id,
                },
                reason=req.reason,
            )
            created = await tx.deployments.get(new.deployment_id)
        await self._committed(agent_id)
        assert created is not None
        return created
