"""Builds the deployment controller of `greenlang-registry serve` from the registry's config.

Everything it keeps lives under the data dir, so a restarted registry finds it again:
``deployments/`` (the process deployer's state: pids, ports, logs), ``controller/`` (its
`service` token, the generated caller JWT secret, the bundle verification key, the artifact
cache). The Docker namespace is
derived from the data dir, so two registries sharing an engine never adopt or remove each
other's containers."""

from __future__ import annotations

import hashlib
from pathlib import Path

from registry.artifacts.port import ArtifactStore
from registry.config import RegistryConfig
from registry.control_plane.signing_key import BundleKey, load_bundle_key
from registry.deployments.artifact_cache import ArtifactCache
from registry.deployments.controller import DeploymentController
from registry.deployments.deployer import Deployer
from registry.deployments.deployer_set import DeployerSet, Factory
from registry.deployments.sidecar_settings import (
    SidecarSettings,
    jwt_secret_file,
    registry_url,
    service_token,
)
from registry.deployments.spec_builder import SpecBuilder
from registry.store.port import MetadataStore


def controller_home(data_dir: Path) -> Path:
    return data_dir / "controller"


def registry_label(data_dir: Path) -> str:
    """Which registry made a container or Kubernetes object (one per data dir), so registries
    sharing a Docker engine or a namespace adopt and clean up only their own."""
    return "r" + hashlib.sha256(str(data_dir).encode()).hexdigest()[:10]


def deployer_factories(data_dir: Path) -> dict[str, Factory]:
    """Each adapter by name; the clients (Docker, Kubernetes) are imported and built on use."""

    def process() -> Deployer:
        from registry.deployments.process import ProcessDeployer

        return ProcessDeployer(data_dir / "deployments")

    def docker() -> Deployer:
        from registry.deployments.docker import DockerDeployer

        return DockerDeployer(namespace=registry_label(data_dir))

    def kubernetes() -> Deployer:
        from registry.deployments.k8s_manifests import KubernetesConfig
        from registry.deployments.kubernetes import KubernetesDeployer

        return KubernetesDeployer(KubernetesConfig(owner=registry_label(data_dir)))

    return {"process": process, "docker": docker, "kubernetes": kubernetes}


async def sidecar_settings(
    config: RegistryConfig, store: MetadataStore, bundle_key: BundleKey | None = None
) -> SidecarSettings:
    """Also the public half of the bundle signing key (``bundle_key``, the one `serve` loaded;
    else loaded here), written under the controller's home: every sidecar it starts verifies
    the bundles it loads with it."""
    home = controller_home(config.data_dir)
    bundle_key = bundle_key or load_bundle_key(config.bundle_signing_key, config.data_dir)
    return SidecarSettings(
        registry_url=registry_url(config.host, config.port, config.advertise_url),
        token=await service_token(store, home),
        jwt_secret_file=jwt_secret_file(config.jwt_secret_file, config.jwks_url, home),
        jwks_url=config.jwks_url,
        engines=config.sidecar_engines,
        verification_key_file=str(bundle_key.write_public(home)),
    )


async def build_controller(
    config: RegistryConfig,
    store: MetadataStore,
    artifacts: ArtifactStore,
    factories: dict[str, Factory] | None = None,
    interval_s: float = 1.0,
    bundle_key: BundleKey | None = None,
) -> DeploymentController:
    """A controller over this registry (not started); ``factories`` replaces the adapters."""
    settings = await sidecar_settings(config, store, bundle_key)
    cache = ArtifactCache(artifacts, controller_home(config.data_dir) / "artifacts")
    deployers = DeployerSet(factories or deployer_factories(config.data_dir), config.deployer)
    specs = SpecBuilder(store, cache, settings)
    return DeploymentController(store, deployers, specs, interval_s=interval_s)
