"""The canary runner: a background task of the first `greenlang-registry serve` process (next to
the deployment controller) that moves every unfinished canary along.

- starting: once the canary deployment is ready, traffic starts at the first step;
- running: when an interval is over (plus `settle_s`, the time sidecars take to report their
  calls), the interval's `sidecar.invoke` events of the canary and the stable version are
  counted, `analysis.judge` gives the verdict, and the service applies it;
- promoting / rolling_back: when the drain is over, the loser is stopped.
A canary whose deployment failed or was stopped, or whose stable deployment went away, is
rolled back. All state is in the database (an interval is judged from stored events, its number
follows from the counters), so a restarted registry resumes where it was."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from kernel.tasks import stop_task
from registry.auth.models import Role
from registry.auth.principal import Context, Principal
from registry.canary.analysis import CanaryState, IntervalMetrics, Verdict, judge
from registry.canary.models import Canary, CanaryInterval, CanaryStatus
from registry.canary.service import CanaryService, analysis_settings
from registry.lifecycle.base import now
from registry.lifecycle.models import Deployment, DeploymentStatus, Desired

log = structlog.get_logger("registry.canary")
RUNNER = Context(Principal("canary-runner", "canary-runner", Role.SERVICE, None))
S = CanaryStatus


class CanaryMetrics:
    """`greenlang_canary_weight` (the share a running canary gets) and
    `greenlang_canary_rollbacks_total` (the alert: deploy/prometheus rules watch its rate)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.weight = Gauge(
            "greenlang_canary_weight",
            "Percent of calls the agent's canary receives (0 when none runs)",
            ["agent_id", "environment"],
            registry=registry,
        )
        self.rollbacks = Counter(
            "greenlang_canary_rollbacks_total",
            "Canaries rolled back (automatically or aborted)",
            ["agent_id", "environment", "version"],
            registry=registry,
        )
        self.promotions = Counter(
            "greenlang_canary_promotions_total",
            "Canaries promoted",
            ["agent_id", "environment", "version"],
            registry=registry,
        )

    def observe(self, canary: Canary) -> None:
        live = canary.weight if canary.status is S.RUNNING else 0
        self.weight.labels(canary.agent_id, canary.environment).set(live)

    def finished(self, canary: Canary, status: CanaryStatus) -> None:
        labels = (canary.agent_id, canary.environment, canary.canary_version)
        counter = self.rollbacks if status is S.ROLLING_BACK else self.promotions
        counter.labels(*labels).inc()


class CanaryRunner:
    def __init__(
        self,
        service: CanaryService,
        *,
        tick_s: float = 1.0,
        settle_s: float = 3.0,
        metrics: CanaryMetrics | None = None,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.service = service
        self.store = service.store
        self.tick_s = tick_s
        self.settle = timedelta(seconds=settle_s)
        self.metrics = metrics or CanaryMetrics(CollectorRegistry())
        self._wake = wake  # the deployment controller: stop what was just asked to stop
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="canary-runner")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(self.tick_s)

    async def tick(self) -> None:
        """One pass over every unfinished canary; one failing never stops the others."""
        try:
            canaries = await self.store.canaries.unfinished()
        except Exception as exc:  # database briefly away: the next tick catches up
            log.warning("canary_tick_failed", error=str(exc))
            return
        for canary in canaries:
            try:
                await self.step(canary)
            except Exception:
                log.exception("canary_step_failed", canary_id=canary.canary_id)

    async def step(self, canary: Canary) -> None:
        at = now()
        if canary.status in (S.PROMOTING, S.ROLLING_BACK):
            if canary.drain_until is None or at >= canary.drain_until:
                await self._transition(canary, "drain")
            return
        self.metrics.observe(canary)
        get = self.store.deployments.get
        ours, theirs = (
            await get(canary.canary_deployment_id),
            await get(canary.stable_deployment_id),
        )
        if (why := _broken(canary, ours, theirs)) is not None:
            await self._transition(canary, "rollback", why)
        elif canary.status is S.STARTING:
            if ours is not None and ours.status is DeploymentStatus.READY:
                await self._transition(canary, "begin")
        elif self._interval_over(canary, at):
            await self._judge(canary)

    def _interval_over(self, canary: Canary, at: datetime) -> bool:
        started = canary.interval_started_at
        length = timedelta(seconds=canary.settings.interval_s)
        return started is not None and at >= started + length + self.settle

    async def _judge(self, canary: Canary) -> None:
        assert canary.interval_started_at is not None
        since = canary.interval_started_at
        until = since + timedelta(seconds=canary.settings.interval_s)
        stats = self.store.canaries.invocation_stats
        agent, env = canary.agent_id, canary.environment
        ours = await stats(agent, env, canary.canary_version, since, until)
        theirs = await stats(agent, env, canary.stable_version, since, until)
        metrics = IntervalMetrics(
            calls=ours.calls,
            errors_5xx=ours.errors_5xx,
            p99_ms=ours.p99_ms,
            policy_denials=ours.denials,
            stable_calls=theirs.calls,
            stable_policy_denials=theirs.denials,
        )
        state = CanaryState(
            canary.step, canary.weight, canary.failed_checks, canary.inconclusive_count
        )
        verdict = judge(analysis_settings(canary.settings), state, metrics)
        interval = _interval(canary, since, until, metrics, verdict)
        await self._transition(canary, "verdict", verdict=verdict, interval=interval)
        log.info("canary_interval", canary_id=canary.canary_id, n=interval.n,
                 action=interval.action, reason=interval.reason)  # fmt: skip

    async def _transition(
        self,
        seen: Canary,
        what: str,
        why: str = "",
        *,
        verdict: Verdict | None = None,
        interval: CanaryInterval | None = None,
    ) -> None:
        """Apply one move in a transaction, if the canary is still as `seen` (another runner or
        a hand-made promote/abort may have moved it meanwhile)."""
        svc = self.service
        async with self.store.transaction() as tx:
            locked, canary = await svc.lock_canary(tx, seen)
            if canary is None or not _same(canary, seen):
                return
            if what == "drain":
                await svc.finish_drain(tx, RUNNER, canary, locked)
            elif what == "begin":
                await svc.begin_running(tx, RUNNER, canary, locked)
            elif what == "rollback":
                await svc.roll_back(tx, RUNNER, canary, locked, why)
            else:
                assert verdict is not None and interval is not None
                await svc.apply_verdict(tx, RUNNER, canary, locked, verdict, interval)
            after = await tx.canaries.get(canary.canary_id)
        await svc._committed(canary.agent_id)
        if after is not None and after.status is not seen.status:
            if after.status in (S.PROMOTING, S.ROLLING_BACK):
                self.metrics.finished(after, after.status)
            self.metrics.observe(after)
        self._wake()


def _same(a: Canary, b: Canary) -> bool:
    return (a.status, a.step, a.interval_started_at, a.failed_checks, a.inconclusive_count) == (
        b.status,
        b.step,
        b.interval_started_at,
        b.failed_checks,
        b.inconclusive_count,
    )


def _broken(canary: Canary, ours: Deployment | None, theirs: Deployment | None) -> str | None:
    """Why the canary cannot go on (its or the stable deployment failed or stopped), or None."""
    for role, deployment_id, d in (
        ("canary", canary.canary_deployment_id, ours),
        ("stable", canary.stable_deployment_id, theirs),
    ):
        if (why := _gone(d)) is not None:
            return f"{role} deployment {deployment_id} {why}"
    return None


def _gone(d: Deployment | None) -> str | None:
    if d is None:
        return "does not exist"
    if d.desired is Desired.STOPPED:
        return f"was stopped ({d.stop_reason or 'undeployed'})"
    if d.status is DeploymentStatus.FAILED:
        return f"failed: {d.message}"
    return None


def _interval(
    canary: Canary, since: datetime, until: datetime, m: IntervalMetrics, verdict: Verdict
) -> CanaryInterval:
    measured = verdict.measured
    return CanaryInterval(
        # every judged interval moves exactly one counter (or ends the canary)
        n=canary.step + canary.failed_checks + canary.inconclusive_count + 1,
        started_at=since,
        ended_at=until,
        weight=canary.weight,
        calls=m.calls,
        errors_5xx=m.errors_5xx,
        success_rate=measured.success_rate,
        p99_ms=measured.p99_ms,
        violations=m.policy_denials,
        violation_rate=measured.violation_rate,
        stable_calls=m.stable_calls,
        stable_violations=m.stable_policy_denials,
        stable_violation_rate=measured.stable_violation_rate,
        action=verdict.action.value,
        failed=list(verdict.failed),
        reason=verdict.reason,
    )
