"""The deployment controller: reconciles what runs to the deployments stored in the registry.

Every tick, for each unfinished deployment: desired running and allowed (not ``pending``) →
the named deployer's ``apply`` with the deployment's spec, and the observation written back;
once ready, the deployment it ``replaces`` is asked to stop (blue/green); desired stopped →
``remove``, then ``stopped``. Instances of deployments the registry no longer wants (orphans)
are removed. One deployment failing (no artifact, a deployer that cannot be reached, an
adapter error) is recorded as ``failed`` with the reason and never stops the others; the next
tick tries again. Deployers adopt what runs, so a restarted controller converges without
starting copies, and instances outlive the controller (only a stop request removes them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import structlog

from registry.audit.chain import AuditRecord
from registry.deployments.deployer import DeploymentState, Phase
from registry.deployments.deployer_set import DeployerSet, DeployerUnavailable
from registry.deployments.spec_builder import SpecBuilder, SpecError
from registry.lifecycle.models import (
    Deployment,
    DeploymentStatus,
    Desired,
    Instance,
    Observation,
)
from registry.store.port import MetadataStore

log = structlog.get_logger("registry.deployments")

ACTOR = "deployment-controller"
STATUS_OF_PHASE = {
    Phase.PROGRESSING: DeploymentStatus.PROGRESSING,
    Phase.READY: DeploymentStatus.READY,
    Phase.DEGRADED: DeploymentStatus.DEGRADED,
    Phase.FAILED: DeploymentStatus.FAILED,
    Phase.ABSENT: DeploymentStatus.PROGRESSING,  # nothing started yet
}


# observed moves that are audited and sent to webhook subscribers (deployment.<status>)
ANNOUNCED = frozenset({DeploymentStatus.READY, DeploymentStatus.FAILED, DeploymentStatus.STOPPED})


class DeploymentController:
    def __init__(
        self,
        store: MetadataStore,
        deployers: DeployerSet,
        specs: SpecBuilder,
        *,
        interval_s: float = 1.0,
        heartbeat_s: float = 60.0,
        concurrency: int = 8,
        stop_grace_s: float = 60.0,
    ) -> None:
        self.store = store
        self.deployers = deployers
        self.specs = specs
        self.interval_s = interval_s
        self.heartbeat = timedelta(seconds=heartbeat_s)  # rewrite an unchanged observation
        self.stop_grace_s = stop_grace_s
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # --- the loop ------------------------------------------------------------------------

    def start(self) -> None:
        self.deployers.get(self.deployers.default)  # a broken default fails serve at once
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="deployment-controller")

    def wake(self) -> None:
        """Reconcile now instead of at the next tick."""
        self._wake.set()

    async def stop(self) -> None:
        """Pause, then release the deployers; the instances keep running."""
        await self.pause()
        await self.deployers.close()

    async def pause(self) -> None:
        """Finish the tick under way (a tick cut in half could lose track of a process it
        just started) and reconcile no more until `start`; deployers stay open."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self._wake.set()
            try:
                await asyncio.wait_for(task, self.stop_grace_s)
            except TimeoutError:
                log.warning("deployment controller stopped in the middle of a tick")

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.tick()
            except Exception:
                log.exception("deployment controller tick failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            except TimeoutError:
                pass
            self._wake.clear()

    async def tick(self) -> None:
        """One reconcile pass over every unfinished deployment, then orphans."""
        deployments = await self.store.deployments.unfinished()
        await asyncio.gather(*(self._guarded(d, deployments) for d in deployments))
        await self._remove_orphans(deployments)

    # --- one deployment --------------------------------------------------------------------

    async def _guarded(self, d: Deployment, all_unfinished: Sequence[Deployment]) -> None:
        async with self._slots:
            try:
                await self._reconcile(d, all_unfinished)
            except Exception as exc:
                reason = str(exc) or type(exc).__name__
                log.warning("deployment reconcile failed", deployment_id=d.deployment_id,
                            error=reason, exc_info=not _expected(exc))  # fmt: skip
                await self._record_failure(d, reason)

    async def _reconcile(self, d: Deployment, all_unfinished: Sequence[Deployment]) -> None:
        if d.desired == Desired.STOPPED:
            await self._stop(d)
        elif d.status != DeploymentStatus.PENDING:  # pending: the policies do not allow it yet
            deployer = self.deployers.get(d.deployer)
            state = await deployer.apply(await self.specs.build(d))
            observed = observation(state)
            await self._record(d, observed)
            if observed.status == DeploymentStatus.READY and d.replaces:
                await self._stop_replaced(d, all_unfinished)

    async def _stop(self, d: Deployment) -> None:
        if self.deployers.knows(d.deployer):  # an unknown deployer never ran anything
            await self.deployers.get(d.deployer).remove(d.deployment_id)
        self.specs.forget(d.deployment_id)
        message = f"stopped: {d.stop_reason}" if d.stop_reason else "stopped"
        stopped = Observation(
            status=DeploymentStatus.STOPPED, instances=[], endpoint=None, message=message
        )
        await self._write(d, stopped)
        log.info("deployment stopped", deployment_id=d.deployment_id, agent_id=d.agent_id)

    async def _stop_replaced(self, d: Deployment, all_unfinished: Sequence[Deployment]) -> None:
        """Blue/green: the old deployment goes once the new one is ready (next tick removes it)."""
        old = next((o for o in all_unfinished if o.deployment_id == d.replaces), None)
        if old is None or old.desired == Desired.STOPPED:
            return
        reason = f"replaced by {d.deployment_id}"
        async with self.store.transaction() as tx:
            locked = await tx.deployments.lock(old.deployment_id)
            if locked is None or locked.desired == Desired.STOPPED:
                return
            await tx.deployments.request_stop(old.deployment_id, reason, _now())
            await tx.audit.append(
                AuditRecord(
                    actor=ACTOR,
                    action="deployment.stop",
                    target=f"deployment:{old.deployment_id}",
                    agent_id=old.agent_id,
                    before={"version": old.version, "status": locked.status.value},
                    after={"replaced_by": d.deployment_id, "version": d.version},
                    reason=reason,
                )
            )
        self.wake()
        log.info(
            "replaced deployment stopping", deployment_id=old.deployment_id, by=d.deployment_id
        )

    async def _record(self, d: Deployment, observed: Observation) -> None:
        """Write the observation when it says something new (each write notifies every
        registry process), or as a heartbeat."""
        same = (
            d.status == observed.status
            and d.instances == observed.instances
            and d.endpoint == observed.endpoint
            and d.message == observed.message
        )
        if same and d.observed_at is not None and _now() - d.observed_at < self.heartbeat:
            return
        await self._write(d, observed)

    async def _write(self, d: Deployment, observed: Observation) -> None:
        """Record the observation; a move to ready, failed or stopped is also audited and sent
        to webhook subscribers, and each restart of an instance audited, in the same
        transaction."""
        async with self.store.transaction() as tx:
            if not await tx.deployments.record_observation(d.deployment_id, observed, _now()):
                return  # stopped meanwhile, or a stop was requested after this observation
            for record in restart_records(d, observed):
                await tx.audit.append(record)
            if observed.status == d.status or observed.status not in ANNOUNCED:
                return
            entry = await tx.agents.entry(d.agent_id)
            event = f"deployment.{observed.status.value}"
            data = {
                "deployment_id": d.deployment_id, "agent_id": d.agent_id, "version": d.version,
                "environment": d.environment, "endpoint": observed.endpoint,
                "message": observed.message,
            }  # fmt: skip
            if entry is not None:
                await tx.webhooks.enqueue_event(d.agent_id, entry.owner_team, event, data, _now())
            await tx.audit.append(
                AuditRecord(
                    actor=ACTOR,
                    action=event,
                    target=f"deployment:{d.deployment_id}",
                    agent_id=d.agent_id,
                    before={"status": d.status.value},
                    after=data,
                )
            )

    async def _record_failure(self, d: Deployment, reason: str) -> None:
        if d.desired == Desired.STOPPED:  # removing failed: still stopping, say why
            status, instances = DeploymentStatus.STOPPING, d.instances
        else:
            status, instances = DeploymentStatus.FAILED, d.instances
        failed = Observation(status=status, instances=instances, endpoint=None, message=reason)
        try:
            await self._record(d, failed)
        except Exception:
            log.exception("recording a failed deployment failed", deployment_id=d.deployment_id)

    # --- orphans -------------------------------------------------------------------------

    async def _remove_orphans(self, deployments: Sequence[Deployment]) -> None:
        """Instances of deployments no unfinished deployment names (stopped meanwhile by
        another path, or left from a wiped database). Deployers list only their own: the
        process state dir and the Docker namespace are this registry's."""
        for name, deployer in self.deployers.built():
            wanted = {d.deployment_id for d in deployments if d.deployer == name}
            try:
                for orphan in set(await deployer.deployed()) - wanted:
                    log.info("removing orphaned deployment", deployment_id=orphan, deployer=name)
                    await deployer.remove(orphan)
            except Exception as exc:
                log.warning("orphan clean-up failed", deployer=name, error=str(exc))


def restart_records(d: Deployment, observed: Observation) -> list[AuditRecord]:
    """One ``deployment.restart`` record per instance whose restart count went up since the
    last observation (a crashed agent or sidecar the deployer started again)."""
    before = {i.name: i.restarts for i in d.instances}
    return [
        AuditRecord(
            actor=ACTOR,
            action="deployment.restart",
            target=f"deployment:{d.deployment_id}",
            agent_id=d.agent_id,
            before={"instance": i.name, "restarts": before.get(i.name, 0)},
            after={"instance": i.name, "restarts": i.restarts, "detail": i.detail},
        )
        for i in observed.instances
        if i.restarts > before.get(i.name, 0)
    ]


def observation(state: DeploymentState) -> Observation:
    endpoints = state.endpoints
    return Observation(
        status=STATUS_OF_PHASE[state.phase],
        instances=[
            Instance(
                name=i.name,
                ready=i.ready,
                endpoint=i.endpoint,
                restarts=i.restarts,
                detail=i.detail,
            )
            for i in state.instances
        ],
        endpoint=endpoints[0] if endpoints else None,
        message=state.message,
    )


def _expected(exc: Exception) -> bool:
    """Failures the deployment's message explains fully (no stack trace in the log)."""
    return isinstance(exc, DeployerUnavailable | SpecError | ValueError)


def _now() -> datetime:
    return datetime.now(UTC)
