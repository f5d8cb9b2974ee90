"""A Deployment's rollout status and its pods, read as a ``DeploymentState`` (pure).

The rollout is complete on the rule ``kubectl rollout status`` uses: the controller has seen the
latest generation, every desired replica is updated and available, and no old replica is left.
"""

from __future__ import annotations

from typing import Any

from registry.deployments.deployer import DeploymentState, InstanceState, Phase

Manifest = dict[str, Any]

# container waiting reasons that mean "will not start without a change", not "still starting"
_STUCK = {
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}


def rollout_complete(deployment: Manifest) -> bool:
    spec, status = deployment.get("spec", {}), deployment.get("status", {})
    desired = spec.get("replicas", 1)
    generation = deployment.get("metadata", {}).get("generation", 0)
    return (
        status.get("observedGeneration", -1) >= generation
        and status.get("updatedReplicas", 0) == desired
        and status.get("replicas", 0) == desired
        and status.get("availableReplicas", 0) == desired
    )


def _deadline_exceeded(deployment: Manifest) -> bool:
    conditions = deployment.get("status", {}).get("conditions") or []
    return any(
        c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"
        for c in conditions
    )


def instance_state(pod: Manifest, endpoint: str) -> InstanceState:
    """One pod: ready when its Ready condition is True; ``endpoint`` is the Service's URL,
    the one address callers use whichever pod answers."""
    status = pod.get("status", {})
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    containers = status.get("containerStatuses") or []
    return InstanceState(
        name=pod["metadata"]["name"],
        ready=ready,
        endpoint=endpoint if ready else None,
        restarts=sum(c.get("restartCount", 0) for c in containers),
        detail="" if ready else _why_not_ready(status),
    )


def _why_not_ready(status: Manifest) -> str:
    for c in status.get("containerStatuses") or []:
        waiting = (c.get("state") or {}).get("waiting")
        if waiting:
            return f"{c['name']}: {waiting.get('reason', '')} {waiting.get('message', '')}".strip()
        if not c.get("ready"):
            return f"{c['name']}: not ready"
    for cond in status.get("conditions") or []:
        if cond.get("status") == "False" and cond.get("message"):
            return f"{cond['type']}: {cond['message']}"
    return f"pod {status.get('phase', 'Pending')}"


def _stuck(pods: list[Manifest]) -> bool:
    """Some container waits for a reason that no amount of waiting fixes."""
    return any(
        ((c.get("state") or {}).get("waiting") or {}).get("reason") in _STUCK
        for p in pods
        for c in p.get("status", {}).get("containerStatuses") or []
    )


def rollout_state(
    deployment_id: str, deployment: Manifest | None, pods: list[Manifest], endpoint: str
) -> DeploymentState:
    """The phase of one deployment from its Deployment object and its live pods."""
    if deployment is None:
        return DeploymentState(deployment_id, Phase.ABSENT, message="no Deployment found")
    live = [p for p in pods if not p.get("metadata", {}).get("deletionTimestamp")]
    instances = tuple(instance_state(p, endpoint) for p in live)
    status = deployment.get("status", {})
    available = status.get("availableReplicas", 0)
    desired = deployment.get("spec", {}).get("replicas", 1)
    summary = f"{available}/{desired} available, {status.get('updatedReplicas', 0)} updated"
    if rollout_complete(deployment):
        phase = Phase.READY
    elif _deadline_exceeded(deployment) or _stuck(live):
        phase = Phase.DEGRADED if available else Phase.FAILED
    else:
        phase = Phase.PROGRESSING
    return DeploymentState(deployment_id, phase, instances, message=summary)
