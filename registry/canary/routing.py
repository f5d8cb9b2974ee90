"""The route of an agent's calls in one environment, from its live deployments and its canary: a
pure function, so the registry serves exactly what its rows say (kernel/route.py documents what
a sidecar does with it)."""

from __future__ import annotations

from collections.abc import Sequence

from kernel.route import CanaryBackend, Route, RouteBackend
from registry.canary.models import Canary, CanaryStatus
from registry.lifecycle.models import Deployment, DeploymentStatus, Desired

NOT_SERVING = (DeploymentStatus.PENDING, DeploymentStatus.STOPPING, DeploymentStatus.STOPPED)


def endpoints(d: Deployment) -> list[str]:
    return [i.endpoint for i in d.instances if i.ready and i.endpoint]


def serving_stable(live: Sequence[Deployment]) -> Deployment | None:
    """The newest stable-track deployment that runs or is starting: the one a promote, a
    rollback or a canary promotion made last (its predecessors drain towards it)."""
    running = [
        d
        for d in live
        if d.track == "stable" and d.desired is Desired.RUNNING and d.status not in NOT_SERVING
    ]
    return max(running, key=lambda d: d.created_at, default=None)


def route_of(
    agent_id: str, environment: str, live: Sequence[Deployment], canary: Canary | None
) -> Route:
    stable = serving_stable(live)
    backend = None
    if canary is not None and canary.status is CanaryStatus.RUNNING:
        d = next((d for d in live if d.deployment_id == canary.canary_deployment_id), None)
        if d is not None:
            backend = CanaryBackend(
                version=d.version,
                deployment_id=d.deployment_id,
                endpoints=endpoints(d),
                weight=canary.weight,
            )
    return Route(
        agent_id=agent_id,
        environment=environment,
        stable=None
        if stable is None
        else RouteBackend(
            version=stable.version, deployment_id=stable.deployment_id, endpoints=endpoints(stable)
        ),
        canary=backend,
    )
