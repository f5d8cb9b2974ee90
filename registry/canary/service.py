"""Canary releases: start (a canary deployment next to the serving one, judged by the deployment
policies like a promote), promote and abort by hand, and the transitions the canary runner
applies after each verdict. Every transition is one transaction with its audit event; the
route the sidecars poll is read from the same rows, so a committed change is what they follow.

States (docs/lifecycle.md, "Canary releases"): starting -> running -> promoting -> promoted,
or -> rolling_back -> rolled_back. The loser of a verdict drains before it is stopped: sidecars
follow the route within one poll, and a call already forwarded must still find it running."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from kernel.route import Route
from registry.auth.principal import Context
from registry.canary.analysis import CanarySettings, Verdict
from registry.canary.models import (
    Canary,
    CanaryInterval,
    CanaryRequest,
    CanarySettingsDoc,
    CanaryStatus,
)
from registry.canary.routing import route_of
from registry.errors import Conflict, NotFound, ValidationFailed
from registry.lifecycle import rules
from registry.lifecycle.base import Locked, now
from registry.lifecycle.models import Deployment, DeploymentStatus, Desired
from registry.lifecycle.service import DeploymentService, Outcome, denial, new_deployment_id
from registry.store.port import CanaryProgress, NewCanary, NewDeployment, Session

S = CanaryStatus
# Deployers whose sidecars can reach each other's endpoints (Docker publishes a pod's sidecar on
# the host's loopback, which another pod's sidecar cannot reach).
CANARY_DEPLOYERS = frozenset({"process", "kubernetes"})
DEFAULT_DRAIN_S = 5.0


def new_canary_id() -> str:
    return f"can-{secrets.token_hex(6)}"


def settings_doc(req: CanaryRequest) -> CanarySettingsDoc:
    """The request's settings; `weight` (the first step) replaces the steps below it."""
    steps = list(req.step_weights)
    if req.weight is not None and req.weight != steps[0]:
        steps = [req.weight, *(w for w in steps if w > req.weight)]
    fields = req.model_dump(exclude={"version", "environment", "weight"})
    doc = CanarySettingsDoc.model_validate(fields | {"step_weights": steps})
    try:
        analysis_settings(doc)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from None
    return doc


def analysis_settings(doc: CanarySettingsDoc) -> CanarySettings:
    fields = doc.model_dump(exclude={"interval_s", "step_weights"})
    return CanarySettings(step_weights=tuple(doc.step_weights), **fields)


class CanaryService(DeploymentService):
    drain_s: float = DEFAULT_DRAIN_S

    # -- reads -----------------------------------------------------------------------------

    async def canary_status(self, agent_id: str, environment: str) -> Canary:
        found = await self.store.canaries.latest_for(agent_id, environment)
        if found is None:
            raise NotFound(f"{agent_id} has no canary in {environment}")
        return found

    async def route(self, agent_id: str, environment: str) -> Route:
        if await self.store.agents.entry(agent_id) is None:
            raise NotFound(f"agent {agent_id!r} is not registered")
        live = await self.store.deployments.live_for(agent_id, environment=environment)
        canary = await self._active_canary(self.store, agent_id, environment)
        return route_of(agent_id, environment, live, canary)

    # -- start -----------------------------------------------------------------------------

    async def start_canary(self, ctx: Context, agent_id: str, req: CanaryRequest) -> Canary:
        """201 the canary (starting; the runner begins the analysis once its deployment is
        ready). A policy denial commits it waiting for approvals of its deployment, then raises
        PolicyDenied naming both."""
        doc = settings_doc(req)
        engine = await self.gate.engine()
        async with self.store.transaction() as tx:
            locked = await self._lock(tx, agent_id, req.version)
            self._require(
                rules.may_manage(ctx.principal, locked.owner_team),
                f"starting a canary needs role publisher of team {locked.owner_team!r} or admin",
            )
            if refusal := rules.deploy_refusal(locked.version):
                raise Conflict(refusal)
            stable = await self._stable_for_canary(tx, agent_id, req)
            decision = self._decide(
                engine, ctx, locked, agent_id, req.environment, ctx.principal.name
            )
            deployment_id = await self._canary_deployment(tx, ctx, locked, req, stable, decision)
            if decision.allowed:  # runs ACTIVE; serves the agent only once promoted
                await self._activate(tx, ctx, locked, deployment_id)
            canary = NewCanary(
                canary_id=new_canary_id(),
                agent_id=agent_id,
                environment=req.environment,
                stable_deployment_id=stable.deployment_id,
                canary_deployment_id=deployment_id,
                stable_version=stable.version,
                canary_version=req.version,
                settings=doc,
                step=0,
                weight=doc.step_weights[0],
                requested_by=ctx.principal.name,
                at=now(),
            )
            if not await tx.canaries.insert(canary):
                raise Conflict(f"a canary of {agent_id} in {req.environment} was just started")
            await self._announce(
                tx, ctx, "canary.start", canary.canary_id, agent_id, locked.owner_team,
                after={
                    "canary_id": canary.canary_id, "stable_version": stable.version,
                    "canary_version": req.version, "deployment_id": deployment_id,
                    "settings": doc.model_dump(), "environment": req.environment,
                },
            )  # fmt: skip
            stored = await tx.canaries.get(canary.canary_id)
            created = await tx.deployments.get(deployment_id)
        await self._committed(agent_id)
        assert stored is not None and created is not None
        if not decision.allowed:
            problem = denial(created, decision)
            problem.extras["canary_id"] = stored.canary_id
            raise problem
        return stored

    async def _stable_for_canary(
        self, tx: Session, agent_id: str, req: CanaryRequest
    ) -> Deployment:
        """The running stable deployment the canary is compared with; 409 when there is none,
        when a canary is under way, or when the version already runs there."""
        env = req.environment
        await self._no_canary(tx, agent_id, env)
        live = await tx.deployments.live_for(agent_id, environment=env)
        if already := next((d for d in live if d.version == req.version), None):
            raise Conflict(
                f"{req.version} already has deployment {already.deployment_id} in {env}"
                f" ({already.status.value})"
            )
        stable = rules.to_replace(live, req.version)
        if stable is None or stable.status is not DeploymentStatus.READY:
            raise Conflict(
                f"{agent_id} has no ready deployment in {env} to compare a canary with;"
                " promote a first version"
            )
        if stable.deployer not in CANARY_DEPLOYERS:
            known = ", ".join(sorted(CANARY_DEPLOYERS))
            raise Conflict(
                f"canaries need a deployer whose sidecars reach each other ({known});"
                f" {stable.deployment_id} runs on {stable.deployer}"
            )
        return stable

    async def _canary_deployment(
        self,
        tx: Session,
        ctx: Context,
        locked: Locked,
        req: CanaryRequest,
        stable: Deployment,
        decision: rules.Decision,
    ) -> str:
        new = NewDeployment(
            deployment_id=new_deployment_id(),
            agent_id=locked.agent_id,
            version=req.version,
            environment=req.environment,
            replicas=stable.replicas,
            deployer=stable.deployer,
            status=decision.status,
            requested_by=ctx.principal.name,
            replaces=None,  # the canary runner decides, not readiness
            violations=decision.violations,
            at=now(),
            traffic_weight=0,
            track="canary",
        )
        if not await tx.deployments.insert(new):
            raise Conflict(f"{locked.agent_id} {req.version} was just deployed; retry")
        await self._announce(
            tx, ctx, "deployment.create", new.deployment_id, locked.agent_id, locked.owner_team,
            event="deployment.created",
            after=self._summary(new.deployment_id, new.version, req.environment, decision)
            | {"replicas": new.replicas, "deployer": new.deployer, "track": "canary"},
        )  # fmt: skip
        return new.deployment_id

    # -- by hand ---------------------------------------------------------------------------

    async def promote_canary(self, ctx: Context, agent_id: str, environment: str) -> Canary:
        """Skip the remaining steps: the canary serves everything now."""
        async with self.store.transaction() as tx:
            canary, locked = await self._locked_canary(tx, ctx, agent_id, environment)
            if canary.status is not S.RUNNING:
                raise Conflict(
                    f"canary {canary.canary_id} is {canary.status.value}; only a running"
                    " canary can be promoted"
                )
            await self._begin_promotion(
                tx, ctx, canary, locked, f"promoted by {ctx.principal.name}"
            )
            done = await tx.canaries.get(canary.canary_id)
        await self._committed(agent_id)
        assert done is not None
        return done

    async def abort_canary(
        self, ctx: Context, agent_id: str, environment: str, reason: str = ""
    ) -> Canary:
        """Every call back to stable at once (the sidecars' next poll), then the canary stops.
        Idempotent while rolling back; too late once promoting (roll back instead)."""
        async with self.store.transaction() as tx:
            canary, locked = await self._locked_canary(tx, ctx, agent_id, environment)
            if canary.status in (S.STARTING, S.RUNNING):
                why = f"aborted by {ctx.principal.name}" + (f": {reason}" if reason else "")
                await self._begin_rollback(tx, ctx, canary, locked, why, action="canary.abort")
            elif canary.status is not S.ROLLING_BACK:
                raise Conflict(
                    f"canary {canary.canary_id} is {canary.status.value}; use"
                    " `greenlang-lifecycle rollback` to return to the earlier version"
                )
            done = await tx.canaries.get(canary.canary_id)
        await self._committed(agent_id)
        assert done is not None
        return done

    async def _locked_canary(
        self, tx: Session, ctx: Context, agent_id: str, environment: str
    ) -> tuple[Canary, Locked]:
        """The agent's unfinished canary, locked after its version and agent (403 / 404)."""
        active = await self._active_canary(tx, agent_id, environment)
        if active is None:
            if await tx.agents.entry(agent_id) is None:
                raise NotFound(f"agent {agent_id!r} is not registered")
            raise NotFound(f"{agent_id} has no canary under way in {environment}")
        locked, canary = await self.lock_canary(tx, active)
        self._require(
            rules.may_manage(ctx.principal, locked.owner_team),
            f"managing a canary needs role publisher of team {locked.owner_team!r} or admin",
        )
        if canary is None or canary.status.finished:
            raise NotFound(f"{agent_id} has no canary under way in {environment}")
        return canary, locked

    async def lock_canary(self, tx: Session, canary: Canary) -> tuple[Locked, Canary | None]:
        """Locks in the lifecycle's order: the canary's version, its agent, then the canary."""
        locked = await self._lock(tx, canary.agent_id, canary.canary_version)
        return locked, await tx.canaries.lock(canary.canary_id)

    # -- the transitions (by hand or by the runner) ----------------------------------------

    async def begin_running(
        self, tx: Session, ctx: Context, canary: Canary, locked: Locked
    ) -> None:
        """Its deployment is ready: traffic starts at the first step, the first interval too."""
        at = now()
        progress = replace(CanaryProgress.of(canary), status=S.RUNNING, interval_started_at=at)
        await tx.canaries.progress(canary.canary_id, progress, at)
        await self._set_weights(tx, canary, canary.weight, at)
        await self._announce(
            tx, ctx, "canary.advance", canary.canary_id, canary.agent_id, locked.owner_team,
            after={"weight": canary.weight, "step": 0, "canary_version": canary.canary_version},
            reason="canary deployment ready: traffic starts",
        )  # fmt: skip

    async def apply_verdict(
        self,
        tx: Session,
        ctx: Context,
        canary: Canary,
        locked: Locked,
        verdict: Verdict,
        interval: CanaryInterval,
    ) -> bool:
        """Store the interval and act on its verdict; False when that interval was judged
        already (another runner, or a retry after a crash between judge and commit)."""
        if not await tx.canaries.add_interval(canary.canary_id, interval):
            return False
        action, state = verdict.action.value, verdict.state
        counted = {
            "failed_checks": state.failed_checks,
            "inconclusive_count": state.inconclusive_count,
        }
        canary = canary.model_copy(update=counted)  # a final verdict keeps its counts too
        if action == "promote":
            await self._begin_promotion(tx, ctx, canary, locked, verdict.reason, interval)
            return True
        if action == "rollback":
            await self._begin_rollback(tx, ctx, canary, locked, verdict.reason, interval=interval)
            return True
        at = now()
        progress = replace(
            CanaryProgress.of(canary),
            step=state.step,
            weight=state.weight,
            failed_checks=state.failed_checks,
            inconclusive_count=state.inconclusive_count,
            interval_started_at=at,
        )
        await tx.canaries.progress(canary.canary_id, progress, at)
        if state.weight != canary.weight:
            await self._set_weights(tx, canary, state.weight, at)
        name = "canary.advance" if action == "advance" else "canary.hold"
        await self._announce(
            tx, ctx, name, canary.canary_id, canary.agent_id, locked.owner_team,
            after=_interval_doc(interval) | {"next_weight": state.weight},
            reason=verdict.reason,
        )  # fmt: skip
        return True

    async def roll_back(
        self, tx: Session, ctx: Context, canary: Canary, locked: Locked, reason: str
    ) -> None:
        await self._begin_rollback(tx, ctx, canary, locked, reason)

    async def finish_drain(self, tx: Session, ctx: Context, canary: Canary, locked: Locked) -> None:
        """The drain is over: stop the loser and close the canary."""
        at = now()
        if canary.status is S.PROMOTING:
            loser, final = canary.stable_deployment_id, S.PROMOTED
            why = f"replaced by canary {canary.canary_id} ({canary.canary_version})"
        else:
            loser, final = canary.canary_deployment_id, S.ROLLED_BACK
            why = f"canary {canary.canary_id} rolled back"
        await self._stop_deployment(tx, ctx, canary, locked, loser, why)
        progress = replace(CanaryProgress.of(canary), status=final, drain_until=None)
        await tx.canaries.progress(canary.canary_id, progress, at)

    async def _begin_promotion(
        self,
        tx: Session,
        ctx: Context,
        canary: Canary,
        locked: Locked,
        reason: str,
        interval: CanaryInterval | None = None,
    ) -> None:
        at = now()
        await tx.deployments.set_track(canary.canary_deployment_id, "stable", at)
        await self._set_weights(tx, canary, 100, at)
        await self._accept(
            tx, ctx, locked, canary.agent_id, canary.environment, canary.canary_deployment_id
        )
        await self._progress_final(tx, canary, S.PROMOTING, 100, reason, at)
        after = {"canary_version": canary.canary_version, "stable_version": canary.stable_version}
        await self._announce(
            tx, ctx, "canary.promote", canary.canary_id, canary.agent_id, locked.owner_team,
            after=after | (_interval_doc(interval) if interval else {}), reason=reason,
        )  # fmt: skip

    async def _begin_rollback(
        self,
        tx: Session,
        ctx: Context,
        canary: Canary,
        locked: Locked,
        reason: str,
        *,
        action: str = "canary.rollback",
        interval: CanaryInterval | None = None,
    ) -> None:
        at = now()
        await self._set_weights(tx, canary, 0, at)
        await self._progress_final(tx, canary, S.ROLLING_BACK, 0, reason, at)
        after = {"canary_version": canary.canary_version, "stable_version": canary.stable_version}
        await self._announce(
            tx, ctx, action, canary.canary_id, canary.agent_id, locked.owner_team,
            after=after | (_interval_doc(interval) if interval else {}), reason=reason,
        )  # fmt: skip

    async def _progress_final(
        self, tx: Session, canary: Canary, status: S, weight: int, reason: str, at: datetime
    ) -> None:
        progress = replace(
            CanaryProgress.of(canary),
            status=status,
            weight=weight,
            reason=reason,
            drain_until=at + timedelta(seconds=self.drain_s),
        )
        await tx.canaries.progress(canary.canary_id, progress, at)

    @staticmethod
    async def _set_weights(tx: Session, canary: Canary, weight: int, at: datetime) -> None:
        """The deployments' shares, shown in /api/v1/deployments (the canary row routes)."""
        await tx.deployments.set_traffic_weight(canary.canary_deployment_id, weight, at)
        await tx.deployments.set_traffic_weight(canary.stable_deployment_id, 100 - weight, at)

    async def _stop_deployment(
        self,
        tx: Session,
        ctx: Context,
        canary: Canary,
        locked: Locked,
        deployment_id: str,
        why: str,
    ) -> None:
        d = await tx.deployments.lock(deployment_id)
        if d is None or d.desired is Desired.STOPPED:
            return
        await tx.deployments.request_stop(deployment_id, why, now())
        await self._announce(
            tx, ctx, "deployment.stop", deployment_id, canary.agent_id, locked.owner_team,
            event="deployment.stop_requested",
            before={"status": d.status.value, "version": d.version},
            after={"desired": "stopped", "canary_id": canary.canary_id}, reason=why,
        )  # fmt: skip


def _interval_doc(interval: CanaryInterval) -> dict[str, Any]:
    return interval.model_dump(mode="json", exclude={"started_at", "ended_at"}) | {
        "interval": interval.n
    }


__all__ = ["CanaryService", "Outcome", "analysis_settings", "settings_doc"]
