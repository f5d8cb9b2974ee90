"""Reading a ``docker`` deployment's pods: whether a pod is down, failed for good or due for a
restart (``assess``, what the deployer acts on) and what an instance looks like to the
controller (``instance_state``, with the readiness probes)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import aiohttp
from docker.models.containers import Container

from registry.deployments import docker_pods as pods
from registry.deployments.deployer import DeploymentState, InstanceState, Phase, RestartPolicy

PERMANENT_EXIT = 2  # the agent host's and the sidecar's "cannot serve this"
ROLES = ("agent", "sidecar")
Pod = dict[str, Container]  # role -> container


@dataclass(frozen=True)
class Assessment:
    down: tuple[str, ...]  # why each exited or missing container is not running
    failed: str  # why the pod is never restarted again ('' when it may be)
    failures: int  # quick failures in a row, this one included
    retry_at: float  # epoch seconds; restart not before


def label(pod: Pod, key: str, default: str = "0") -> str:
    container = pod.get("agent") or next(iter(pod.values()))
    return str(container.labels.get(f"{pods.LABEL}.{key}", default))


def assess(pod: Pod, policy: RestartPolicy) -> Assessment:
    stopped = [r for r in ROLES if r in pod and pod[r].status != "running"]
    exited = [(pod[r], _exit_detail(r, pod[r])) for r in stopped]
    down = tuple(detail for _, detail in exited)
    down += tuple(f"{r} container is missing" for r in ROLES if r not in pod)
    if not down:
        return Assessment((), "", 0, 0.0)
    ended = [_ended(c) for c, _ in exited]
    failures = int(label(pod, "failures"))
    if any(e and e[1] - e[0] >= policy.stable_after_s for e in ended):
        failures = 0
    failures += 1
    permanent = [detail for c, detail in exited if _permanent(c)]
    failed = permanent[0] if permanent else ""
    if not failed and failures > policy.max_failures:
        failed = f"{down[0]} ({failures} failures in a row)"
    last_end = max((e[1] for e in ended if e), default=0.0)
    return Assessment(down, failed, failures, last_end + policy.delay(failures))


def _permanent(container: Container) -> bool:
    state = container.attrs["State"]
    return bool(state.get("Error")) or state.get("ExitCode") == PERMANENT_EXIT


def _exit_detail(role: str, container: Container) -> str:
    state = container.attrs["State"]
    if state.get("Error"):
        return f"{role} could not start: {state['Error']}"
    code = state.get("ExitCode")
    how = "was killed" if code == 137 else f"exited with code {code}"
    last = _last_log_line(container) if code != 137 else ""
    return f"{role} {how}" + (f": {last}" if last else "")


def _last_log_line(container: Container) -> str:
    lines = container.logs(tail=5).decode(errors="replace").strip().splitlines()
    return lines[-1].strip()[:300] if lines else ""


def _ended(container: Container) -> tuple[float, float] | None:
    """(started, finished) in epoch seconds of a container that ran and exited."""
    state = container.attrs["State"]
    if state["FinishedAt"].startswith("0001") or state["StartedAt"].startswith("0001"):
        return None
    return _epoch(state["StartedAt"]), _epoch(state["FinishedAt"])


def _epoch(stamp: str) -> float:
    """Docker's RFC 3339 time with nanoseconds, in epoch seconds."""
    head, _, rest = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + float(f"0.{rest or 0}")


def published(container: Container | None, port: int) -> int | None:
    """The host port a pod's container port is published on while the pod runs."""
    if container is None:
        return None
    bound = (container.attrs["NetworkSettings"].get("Ports") or {}).get(f"{port}/tcp")
    return int(bound[0]["HostPort"]) if bound else None


async def instance_state(
    http: aiohttp.ClientSession, name: str, pod: Pod, policy: RestartPolicy
) -> tuple[InstanceState, str]:
    """The instance as the controller sees it, and why it failed for good ('' if it did not)."""
    restarts = int(label(pod, "restarts"))
    verdict = assess(pod, policy)
    if verdict.down:
        wait = verdict.retry_at - time.time()
        later = f"restarting in {wait:.0f} s" if wait > 0.5 else "restarting on the next apply"
        why = "; ".join(verdict.down)
        detail = verdict.failed or f"{why} ({later}, {restarts} restarts so far)"
        return InstanceState(name, False, None, restarts, detail), verdict.failed
    listen = published(pod["agent"], pods.LISTEN_PORT)
    endpoint = f"http://127.0.0.1:{listen}" if listen else None
    detail = _agent_health(pod["agent"]) or await _sidecar_ready(http, pod["agent"])
    return InstanceState(name, not detail, endpoint, restarts, detail), ""


def _agent_health(agent: Container) -> str:
    health = agent.attrs["State"].get("Health") or {}
    status = health.get("Status", "starting")
    if status == "healthy":
        return ""
    probes = health.get("Log") or []
    last = (probes[-1].get("Output") or "").strip() if probes else ""
    return f"agent {status}" + (f": {last[:200]}" if last else "")


async def _sidecar_ready(http: aiohttp.ClientSession, agent: Container) -> str:
    admin = published(agent, pods.ADMIN_PORT)
    if admin is None:
        return "sidecar admin port is not published"
    url = f"http://127.0.0.1:{admin}/readyz"
    try:
        async with http.get(url) as resp:
            return "" if resp.status == 200 else f"sidecar not ready: {url} answered {resp.status}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"sidecar not ready: {url}: {type(exc).__name__}"


def summary(deployment_id: str, observed: list[tuple[InstanceState, str]]) -> DeploymentState:
    states = tuple(s for s, _ in observed)
    failed = [why for _, why in observed if why]
    ready = sum(s.ready for s in states)
    count = len(states)
    if failed and len(failed) == count:
        return DeploymentState(deployment_id, Phase.FAILED, states, failed[0])
    if ready == count:
        phase = Phase.READY
    elif ready and (failed or any(s.endpoint is None for s in states)):
        phase = Phase.DEGRADED
    else:
        phase = Phase.PROGRESSING
    return DeploymentState(deployment_id, phase, states, f"{ready}/{count} ready")
