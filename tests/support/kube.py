"""A real Kubernetes API server for the kubernetes deployer's tests, and the example deployment.

``KubeCluster`` runs ../shared/tools/kubernetes/start.sh (etcd, kube-apiserver,
controller-manager, scheduler and a kwok fake node on loopback) in a private state dir and stops
exactly those processes with the stop.sh it writes. If it cannot start, the test fails.
``example_spec`` is the deployment the manifests in deploy/kubernetes/ are rendered from.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from registry.deployments.deployer import DeploymentSpec, SidecarConfig
from registry.deployments.k8s_manifests import KubernetesConfig
from registry.deployments.kubernetes import KubernetesDeployer

REPO = Path(__file__).resolve().parents[2]


def _tools() -> Path:
    """$GREENLANG_KUBE_TOOLS, else ``shared/tools/kubernetes`` beside the repo (CI: ../shared)
    or beside a parent of it (a worktree under /work/wt)."""
    if os.environ.get("GREENLANG_KUBE_TOOLS"):
        return Path(os.environ["GREENLANG_KUBE_TOOLS"])
    found = (p / "shared" / "tools" / "kubernetes" for p in REPO.parents)
    return next((d for d in found if d.is_dir()), REPO.parent / "shared" / "tools" / "kubernetes")


TOOLS = _tools()
EXAMPLE_AGENT = REPO / "examples" / "agents" / "grid-intensity-monitor"
SHIPPED = REPO / "deploy" / "kubernetes"
EXAMPLE_JWT_SECRET = b"REPLACE-WITH-THE-HS256-SECRET-OF-THE-REGISTRY"
# the registry's public bundle key: GET /bundle-verification-key (docs/bundles.md)
EXAMPLE_VERIFICATION_KEY = b"REPLACE-WITH-THE-REGISTRY-BUNDLE-VERIFICATION-KEY-PEM"


class KubeCluster:
    """A started cluster: ``.kubeconfig`` (path); use as a context manager."""

    def __init__(self) -> None:
        self.state = Path(tempfile.mkdtemp(prefix="gl-kube-"))
        self.kubeconfig = self.state / "kubeconfig"

    def start(self) -> Self:
        proc = subprocess.run(
            ["bash", str(TOOLS / "start.sh"), str(self.state)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if proc.returncode != 0 or not self.kubeconfig.is_file():
            self.close()
            raise RuntimeError(f"kubernetes did not start ({TOOLS}/start.sh):\n{proc.stderr}")
        return self

    def close(self) -> None:
        stop = self.state / "stop.sh"
        if stop.exists():
            subprocess.run(["bash", str(stop)], check=False, timeout=60)
        shutil.rmtree(self.state, ignore_errors=True)

    def core(self) -> k8s.CoreV1Api:
        return k8s.CoreV1Api(k8s_config.new_client_from_config(config_file=str(self.kubeconfig)))

    def apps(self) -> k8s.AppsV1Api:
        return k8s.AppsV1Api(k8s_config.new_client_from_config(config_file=str(self.kubeconfig)))

    def create_namespace(self, name: str) -> str:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        self.core().create_namespace(body)
        return name

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator[KubeCluster]:
    """One real API server (with controllers and the kwok node) for the session."""
    with KubeCluster() as cluster:
        yield cluster


def make_deployer(cluster: KubeCluster, namespace: str) -> KubernetesDeployer:
    """The adapter under test, as a contract suite's factory would build it."""
    return KubernetesDeployer(KubernetesConfig(namespace=namespace), str(cluster.kubeconfig))


def example_spec(
    *,
    deployment_id: str = "dep-7f3c2a91",
    replicas: int = 2,
    jwt_secret_file: str = "/etc/greenlang/jwt-secret",
    verification_key_file: str = "/etc/greenlang/bundle-verification.pem",
    artifact: Path = EXAMPLE_AGENT / "artifact.py",
) -> DeploymentSpec:
    """The example agent in production behind a sidecar that reads the bundle from an
    in-cluster registry; the shipped manifests are this spec rendered."""
    return DeploymentSpec(
        deployment_id=deployment_id,
        agent_id="grid-intensity-monitor",
        version="0.7.0",
        environment="production",
        replicas=replicas,
        artifact=artifact,
        sidecar=SidecarConfig(
            registry_url="http://greenlang-registry.greenlang.svc:8700",
            token="REPLACE-WITH-A-SERVICE-TOKEN",
            environment="production",
            jwt_secret_file=jwt_secret_file,
            verification_key_file=verification_key_file,
        ),
    )
