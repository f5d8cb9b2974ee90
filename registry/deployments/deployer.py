"""The Deployer port: what the deployment controller asks of a place that runs agents.

The port is declarative, like a Kubernetes apply: ``apply`` is handed the whole desired state of
one deployment and makes it so (starts what is missing, replaces what crashed, stops extras),
then says what it observed. The controller calls it again every reconcile tick, so an adapter
needs no loop of its own, and a restarted controller converges by calling it again: an adapter
finds its instances by the deployment id it labelled them with (process ids in a state dir,
Docker labels, Kubernetes labels) and adopts them instead of starting copies.

Every instance is a pair: the agent and a ``greenlang-sidecar`` in front of it. Callers reach
the agent only through the sidecar's listen address, the instance's ``endpoint``.
Adapters: ``process`` (local processes, the embedded default), ``docker``, ``kubernetes``.
One contract suite (tests/contract/test_deployer.py) runs against each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol


class Phase(StrEnum):
    """Where a deployment stands as the deployer sees it."""

    PROGRESSING = "progressing"  # instances starting, not all ready yet
    READY = "ready"  # every replica passed its health check
    DEGRADED = "degraded"  # some replicas ready, others crashed or restarting
    FAILED = "failed"  # cannot run (bad artifact, start command fails every time)
    ABSENT = "absent"  # nothing of it runs here


@dataclass(frozen=True)
class Runtime:
    """How the agent starts. ``python-run`` (default): the artifact is one Python file with
    ``run(inputs: dict) -> dict``, served by the agent host (agent_sdk/host.py) on
    ``POST /v1/run`` and ``GET /healthz``. ``command``: the spec's own HTTP server command
    (its ``runtime`` section), started with ``{port}`` in its arguments replaced by the port it
    must listen on and ``{artifact}`` by the artifact's path; a first item ``python3`` or
    ``python`` is the Python that runs the agent host. Contract: docs/agent-spec.md."""

    kind: str = "python-run"
    command: tuple[str, ...] = ()
    health_path: str = "/healthz"


@dataclass(frozen=True)
class SidecarConfig:
    """What every sidecar of the deployment is started with (``greenlang-sidecar`` flags)."""

    registry_url: str | None  # audit events go here (None: to the sidecar's log); the bundle
    # too unless ``bundle_url`` says otherwise
    token: str | None  # a `service` token: reads the bundle, reports audit events
    environment: str
    # a URL or a local file (the embedded engine); default: <registry_url>/api/v1/bundles/greenlang
    bundle_url: str | None = None
    engine: str = "embedded"  # or the URL of an OPA
    jwt_secret_file: str | None = None  # caller authentication, passed on from the registry
    jwks_url: str | None = None
    # the public key bundles are signed with: every sidecar that loads bundles itself verifies
    # them (``--verification-key``); one with an OPA engine leaves it to that OPA
    verification_key_file: str | None = None
    extra_args: tuple[str, ...] = ()

    @property
    def bundle_key_file(self) -> str | None:
        """The public bundle key this sidecar verifies with: only when it loads bundles itself
        (the embedded engine); None with an OPA engine, which verifies with its own keys."""
        return self.verification_key_file if self.engine == "embedded" else None


@dataclass(frozen=True)
class DeploymentSpec:
    """The desired state of one deployment: ``replicas`` instances of one agent version."""

    deployment_id: str
    agent_id: str
    version: str
    environment: str
    replicas: int
    artifact: Path  # a local copy of the version's artifact, checked against its sha256
    sidecar: SidecarConfig
    runtime: Runtime = field(default_factory=Runtime)


@dataclass(frozen=True)
class RestartPolicy:
    """When a crashed instance is started again: at once, then after ``backoff_base_s``,
    doubling up to ``backoff_max_s``; never again after more than ``max_failures`` quick
    crashes in a row (an instance that ran ``stable_after_s`` starts a new series)."""

    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    max_failures: int = 5
    stable_after_s: float = 30.0

    def delay(self, failures: int) -> float:
        """Seconds to wait before the restart that follows the ``failures``-th crash."""
        if failures <= 1:
            return 0.0
        return min(self.backoff_base_s * 2 ** (failures - 2), self.backoff_max_s)


@dataclass(frozen=True)
class InstanceState:
    name: str  # the adapter's handle: "<deployment_id>-<n>", a container name, a pod name
    ready: bool
    endpoint: str | None  # http://host:port of the sidecar, when it listens
    restarts: int = 0
    detail: str = ""  # why it is not ready (exit code, failed probe, image missing, ...)


@dataclass(frozen=True)
class DeploymentState:
    deployment_id: str
    phase: Phase
    instances: tuple[InstanceState, ...] = ()
    message: str = ""

    @property
    def endpoints(self) -> list[str]:
        return [i.endpoint for i in self.instances if i.ready and i.endpoint]


class Deployer(Protocol):
    name: str

    async def apply(self, spec: DeploymentSpec) -> DeploymentState:
        """Converge this deployment to ``spec`` (idempotent; adopts running instances) and
        return what is observed after this step; it does not wait for readiness."""
        ...

    async def observe(self, deployment_id: str) -> DeploymentState:
        """What runs of the deployment now, without changing anything."""
        ...

    async def remove(self, deployment_id: str) -> None:
        """Stop and delete every instance of the deployment (agent and sidecar); idempotent."""
        ...

    async def deployed(self) -> list[str]:
        """Ids of the deployments that have instances here (for orphan clean-up)."""
        ...

    async def close(self) -> None:
        """Release clients; running instances keep running (they outlive the controller)."""
        ...
