"""The ``docker`` deployer: every replica is a pod of two containers on a Docker Engine, the
agent and ``greenlang-sidecar`` sharing its network namespace (docker_pods.py); the instance's
endpoint is the sidecar's port, published on 127.0.0.1.

State lives in the engine only: every container carries labels (namespace, deployment, agent,
version, replica, role, the spec's fingerprint, restarts, failures), so a new deployer adopts
what runs by listing them, and ``remove`` deletes by label. The adapter restarts what exited
itself (no Docker restart policy: a restarted agent would get a new network namespace that its
sidecar is not in). A crashed agent is replaced with a new pod whose ``restarts`` label counts
one more, after a backoff measured from the crash time the engine records (the first restart at
once, then 1 s, 2 s, ... up to ``backoff_max_s``). Exit code 2 (the host's "cannot serve this",
e.g. an artifact that does not import) or more than ``max_failures`` quick crashes in a row
fail the instance for good. Ready = the agent's HEALTHCHECK is healthy and the sidecar's admin
``/readyz`` (published on 127.0.0.1) answers 200.

The Docker SDK blocks, so every call to it runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import defaultdict
from collections.abc import Callable
from typing import TypeVar

import aiohttp
import docker
import docker.errors
from docker import DockerClient
from docker.models.containers import Container

from registry.deployments import docker_pods as pods
from registry.deployments import process_launch as cmd
from registry.deployments.deployer import (
    DeploymentSpec,
    DeploymentState,
    Phase,
    RestartPolicy,
)
from registry.deployments.docker_image import ensure_runtime_image
from registry.deployments.docker_observe import (
    Pod,
    assess,
    instance_state,
    label,
    published,
    summary,
)

T = TypeVar("T")
Pods = dict[int, Pod]  # replica index -> its containers
PORTS_LABEL = f"{pods.LABEL}.ports"  # on the sidecar: the host ports the pod was published on


class DockerDeployer:
    name = "docker"

    def __init__(
        self,
        client: DockerClient | None = None,
        *,
        image: str | None = None,
        namespace: str = "default",
        restarts: RestartPolicy | None = None,
        grace_s: float = 10.0,
        probe_timeout_s: float = 2.0,
    ) -> None:
        self._client, self._owns_client = client, client is None
        self._image = image  # default: this tree's runtime image, built when missing
        self.namespace = namespace
        self.grace_s = grace_s
        self.policy = restarts or RestartPolicy()
        self._probe_timeout = aiohttp.ClientTimeout(total=probe_timeout_s)
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._http: aiohttp.ClientSession | None = None

    async def apply(self, spec: DeploymentSpec) -> DeploymentState:
        cmd.check(spec)
        async with self._locks[spec.deployment_id]:
            await self._thread(self._converge, spec)
        return await self.observe(spec.deployment_id)

    async def observe(self, deployment_id: str) -> DeploymentState:
        found = await self._thread(self._pods, deployment_id)
        if not found:
            return DeploymentState(deployment_id, Phase.ABSENT)
        http = self._session()
        states = await asyncio.gather(
            *(
                instance_state(http, f"{deployment_id}-{i}", found[i], self.policy)
                for i in sorted(found)
            )
        )
        return summary(deployment_id, list(states))

    async def remove(self, deployment_id: str) -> None:
        async with self._locks[deployment_id]:
            found = await self._thread(self._pods, deployment_id)
            await asyncio.gather(*(self._thread(self._delete, pod) for pod in found.values()))

    async def deployed(self) -> list[str]:
        containers = await self._thread(self._containers, {})
        return sorted({c.labels[f"{pods.LABEL}.deployment"] for c in containers})

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._client is not None and self._owns_client:
            await self._thread(self._client.close)
            self._client = None

    # --- the engine (worker threads) ----------------------------------------------------

    async def _thread(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.to_thread(fn, *args)

    def _engine(self) -> DockerClient:
        if self._client is None:
            self._client = docker.from_env(version="auto")  # the engine may predate the SDK
        return self._client

    def _runtime_image(self) -> str:
        if self._image is None:
            self._image = ensure_runtime_image(self._engine())
        return self._image

    def _containers(self, labels: dict[str, str]) -> list[Container]:
        selector = {f"{pods.LABEL}.namespace": self.namespace} | labels
        filters = {"label": [f"{k}={v}" for k, v in selector.items()]}
        engine = self._engine()
        found: list[Container] = engine.containers.list(
            all=True, filters=filters, ignore_removed=True
        )
        return found

    def _pods(self, deployment_id: str) -> Pods:
        found: Pods = defaultdict(dict)
        for c in self._containers({f"{pods.LABEL}.deployment": deployment_id}):
            found[int(c.labels[f"{pods.LABEL}.replica"])][c.labels[f"{pods.LABEL}.role"]] = c
        return dict(found)

    def _converge(self, spec: DeploymentSpec) -> None:
        image = self._runtime_image()
        started_from = cmd.fingerprint(spec, cmd.file_sha256(spec.artifact)) + image
        fingerprint = hashlib.sha256(started_from.encode()).hexdigest()[:24]
        found = self._pods(spec.deployment_id)
        for index, pod in found.items():
            if index >= spec.replicas or label(pod, "fingerprint") != fingerprint:
                self._delete(pod)
        for index in range(spec.replicas):
            target = pods.Pod(self.namespace, spec, index, fingerprint, image)
            pod = found.get(index, {})
            if not pod or label(pod, "fingerprint") != fingerprint:
                self._start(target, {}, restarts=0, failures=0)
            else:
                self._heal(target, pod)

    def _heal(self, target: pods.Pod, pod: Pod) -> None:
        """Replace a pod whose agent or sidecar exited once its backoff has passed (both: a new
        agent has a new network namespace); a pod that failed for good is left for observe."""
        verdict = assess(pod, self.policy)
        if not verdict.down or verdict.failed or time.time() < verdict.retry_at:
            return
        ports = _ports_of(pod)
        self._delete(pod)
        restarts = int(label(pod, "restarts")) + 1
        self._start(target, ports, restarts=restarts, failures=verdict.failures)

    def _start(
        self, target: pods.Pod, ports: dict[int, int | None], restarts: int, failures: int
    ) -> None:
        """Create and start the agent, then the sidecar in its network namespace; the pod
        keeps the host ports it had when they are still free."""
        engine = self._engine()
        wanted = ports or {pods.LISTEN_PORT: None, pods.ADMIN_PORT: None}
        agent = engine.containers.create(
            **pods.agent_options(target, wanted), labels=target.labels("agent", restarts, failures)
        )
        pods.copy_agent_files(agent, target.spec)
        try:
            agent.start()
        except docker.errors.APIError:
            if not ports:
                return  # kept, not started: observe reports the engine's reason
            agent.remove(force=True)  # its old host ports are taken now: any free ones
            return self._start(target, {}, restarts, failures)
        agent.reload()
        bound = {p: published(agent, p) for p in (pods.LISTEN_PORT, pods.ADMIN_PORT)}
        labels = target.labels("sidecar", restarts, failures)
        labels[PORTS_LABEL] = ",".join(f"{k}={v}" for k, v in bound.items() if v)
        sidecar = engine.containers.create(**pods.sidecar_options(target, agent), labels=labels)
        pods.copy_sidecar_files(sidecar, target.spec.sidecar)
        try:
            sidecar.start()
        except docker.errors.APIError:  # the agent exited at once: observe says why
            sidecar.remove(force=True)  # not a sidecar failure; the next heal starts both

    def _delete(self, pod: Pod) -> None:
        for role in ("sidecar", "agent"):  # callers lose the door first, then the agent
            container = pod.get(role)
            if container is None:
                continue
            try:
                if container.status == "running":
                    container.stop(timeout=int(self.grace_s))
                container.remove(force=True)
            except docker.errors.NotFound:
                pass

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=self._probe_timeout)
        return self._http


def _ports_of(pod: Pod) -> dict[int, int | None]:
    """The host ports a pod was published on (from its sidecar's label), to keep its endpoint
    across a restart."""
    sidecar = pod.get("sidecar")
    text = sidecar.labels.get(PORTS_LABEL, "") if sidecar is not None else ""
    pairs = (item.split("=") for item in text.split(",") if "=" in item)
    return {int(port): int(host) for port, host in pairs}
