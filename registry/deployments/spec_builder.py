"""From a stored deployment to the DeploymentSpec a deployer applies: the version's artifact
(a local, checked copy), its runtime (the spec's optional ``runtime`` section) and the sidecar
settings of the registry.

A version and its artifact never change, so a spec is built once per deployment and kept."""

from __future__ import annotations

from registry.artifacts.port import ArtifactIntegrityError, ArtifactNotFound
from registry.catalog.spec import AgentSpec
from registry.deployments.artifact_cache import ArtifactCache
from registry.deployments.deployer import DeploymentSpec, Runtime, SidecarConfig
from registry.deployments.sidecar_engine import engine_for
from registry.deployments.sidecar_settings import SidecarSettings
from registry.lifecycle.models import Deployment
from registry.store.port import MetadataStore


class SpecError(Exception):
    """The deployment cannot be started from what the registry holds; the message says why."""


class SpecBuilder:
    def __init__(
        self, store: MetadataStore, cache: ArtifactCache, sidecar: SidecarSettings
    ) -> None:
        self.store = store
        self.cache = cache
        self.sidecar = sidecar
        self._built: dict[str, DeploymentSpec] = {}

    async def build(self, d: Deployment) -> DeploymentSpec:
        spec = self._built.get(d.deployment_id)
        if spec is None or spec.replicas != d.replicas:
            spec = await self._build(d)
            self._built[d.deployment_id] = spec
        return spec

    def forget(self, deployment_id: str) -> None:
        self._built.pop(deployment_id, None)

    async def _build(self, d: Deployment) -> DeploymentSpec:
        name = f"{d.agent_id} {d.version}"
        version = await self.store.versions.get(d.agent_id, d.version)
        agent_spec = await self.store.versions.spec(d.agent_id, d.version)
        if version is None or agent_spec is None:
            raise SpecError(f"{name} is not registered")
        if not version.artifact_uri or not version.artifact_sha256:
            raise SpecError(f"{name} has no artifact: register the version with one to deploy it")
        runtime = runtime_of(agent_spec)
        filename = "artifact.py" if runtime.kind == "python-run" else "artifact"
        try:
            artifact = await self.cache.get(version.artifact_uri, version.artifact_sha256, filename)
        except (ArtifactNotFound, ArtifactIntegrityError) as exc:
            raise SpecError(f"the artifact of {name} cannot be read: {exc}") from None
        return DeploymentSpec(
            deployment_id=d.deployment_id,
            agent_id=d.agent_id,
            version=d.version,
            environment=d.environment,
            replicas=d.replicas,
            artifact=artifact,
            sidecar=SidecarConfig(
                registry_url=self.sidecar.registry_url,
                token=self.sidecar.token,
                environment=d.environment,
                jwt_secret_file=self.sidecar.jwt_secret_file,
                jwks_url=self.sidecar.jwks_url,
                engine=engine_for(self.sidecar.engines, d.environment),
                verification_key_file=self.sidecar.verification_key_file,
            ),
            runtime=runtime,
        )


def runtime_of(spec: AgentSpec) -> Runtime:
    """A ``runtime`` section means the agent is its own HTTP server; none: the agent host."""
    if spec.runtime is None:
        return Runtime()
    return Runtime("command", tuple(spec.runtime.command), spec.runtime.health_path)
