"""Kubernetes objects for one deployment, rendered as plain dicts (no client, no cluster).

Per deployment: a Secret (the sidecar's registry token and caller-auth secret), a ConfigMap (the
single-file artifact), a Deployment whose pods run the agent host and a ``greenlang-sidecar`` in
front of it, and a ClusterIP Service on the sidecar's port. The agent listens on 127.0.0.1 inside
the pod, so nothing reaches it except through the sidecar. ``deploy/kubernetes/`` ships the same
objects for one example agent; a test keeps them equal to this renderer's output.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

from kubernetes.utils import parse_quantity

from registry.deployments.deployer import DeploymentSpec
from registry.deployments.k8s_names import label_value, object_name
from registry.deployments.sidecar_args import sidecar_argv

AGENT_PORT = 9000
HTTP_PORT = 8080
ADMIN_PORT = 9901
MAX_ARTIFACT_BYTES = 900 * 1024  # a ConfigMap holds at most 1 MiB in all
ARTIFACT_DIR = "/agent"
ARTIFACT_KEY = "artifact.py"
SECRET_DIR = "/etc/greenlang/secrets"
VERIFICATION_KEY = "bundle-verification-key"  # Secret key and file: the public bundle key
SPOOL_DIR = "/var/lib/greenlang/spool"
MANAGED_BY = "greenlang-registry"

LABEL_AGENT = "greenlang.dev/agent"
LABEL_VERSION = "greenlang.dev/version"
LABEL_DEPLOYMENT = "greenlang.dev/deployment"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_OWNER = "greenlang.dev/registry"
ANNOTATION_DEPLOYMENT_ID = "greenlang.dev/deployment-id"

Manifest = dict[str, Any]


class ArtifactTooLarge(ValueError):
    """The artifact does not fit a ConfigMap."""


@dataclass(frozen=True)
class Resources:
    requests: dict[str, str]
    limits: dict[str, str]

    def __post_init__(self) -> None:
        """A bad quantity fails here, with its name: the API server answers a server-side
        apply carrying one with a 500 (a conversion error), which reads like an outage."""
        for kind, values in (("requests", self.requests), ("limits", self.limits)):
            for resource, quantity in values.items():
                try:
                    parse_quantity(quantity)
                except ValueError:
                    raise ValueError(f"{kind}.{resource}: {quantity!r} is not a quantity") from None

    def as_manifest(self) -> Manifest:
        return {"requests": dict(self.requests), "limits": dict(self.limits)}


AGENT_RESOURCES = Resources({"cpu": "100m", "memory": "128Mi"}, {"cpu": "1", "memory": "512Mi"})
SIDECAR_RESOURCES = Resources({"cpu": "50m", "memory": "96Mi"}, {"cpu": "500m", "memory": "256Mi"})


@dataclass(frozen=True)
class KubernetesConfig:
    """Where and with what the adapter runs deployments; the defaults suit a small cluster."""

    namespace: str = "default"
    image: str = "greenlang-runtime:latest"  # python3 + this project (agent_sdk, sidecar)
    image_pull_policy: str = "IfNotPresent"  # the image is usually built locally
    agent_resources: Resources = field(default_factory=lambda: AGENT_RESOURCES)
    sidecar_resources: Resources = field(default_factory=lambda: SIDECAR_RESOURCES)
    progress_deadline_s: int = 300  # after this a stuck rollout reports FAILED/DEGRADED
    # which registry made the objects (label greenlang.dev/registry): registries sharing a
    # namespace then list, adopt and clean up only their own; None: no such label
    owner: str | None = None


@dataclass(frozen=True)
class Manifests:
    secret: Manifest
    config_map: Manifest
    deployment: Manifest
    service: Manifest

    def in_apply_order(self) -> list[Manifest]:
        """What the Deployment's pods mount comes first, so they never wait for it."""
        return [self.secret, self.config_map, self.service, self.deployment]


def resource_name(spec: DeploymentSpec) -> str:
    """One name for the deployment's four objects; stable across versions (a rollback rolls
    the same Deployment)."""
    return object_name(f"{spec.agent_id}-{spec.deployment_id}")


def selector(deployment_id: str) -> dict[str, str]:
    return {LABEL_DEPLOYMENT: label_value(deployment_id)}


def labels(spec: DeploymentSpec) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": label_value(spec.agent_id),
        "app.kubernetes.io/version": label_value(spec.version),
        "app.kubernetes.io/component": "agent",
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_AGENT: label_value(spec.agent_id),
        LABEL_VERSION: label_value(spec.version),
        LABEL_DEPLOYMENT: label_value(spec.deployment_id),
        "greenlang.dev/environment": label_value(spec.environment),
    }


def _metadata(spec: DeploymentSpec) -> Manifest:
    """Labels may be shortened; the annotations keep the registry's exact identifiers."""
    return {
        "name": resource_name(spec),
        "labels": labels(spec),
        "annotations": {
            ANNOTATION_DEPLOYMENT_ID: spec.deployment_id,
            "greenlang.dev/agent-id": spec.agent_id,
            "greenlang.dev/agent-version": spec.version,
        },
    }


def render(
    spec: DeploymentSpec,
    config: KubernetesConfig,
    artifact: bytes,
    jwt_secret: bytes | None = None,
    verification_key: bytes | None = None,
) -> Manifests:
    """All objects of ``spec``. ``artifact``, ``jwt_secret`` and ``verification_key`` (the
    registry's public bundle key) are the file contents (the caller reads them), so rendering
    stays pure."""
    if len(artifact) > MAX_ARTIFACT_BYTES:
        raise ArtifactTooLarge(
            f"artifact of {spec.agent_id} {spec.version} is {len(artifact)} bytes; the kubernetes "
            f"deployer carries it in a ConfigMap, which takes at most {MAX_ARTIFACT_BYTES} bytes"
        )
    secret = _secret(spec, jwt_secret, verification_key)
    config_map = _config_map(spec, artifact)
    checksums = {
        "greenlang.dev/artifact-sha256": hashlib.sha256(artifact).hexdigest(),
        "greenlang.dev/secret-sha256": _sha256_of(secret),
    }
    manifests = Manifests(
        secret=secret,
        config_map=config_map,
        deployment=_deployment(spec, config, checksums),
        service=_service(spec),
    )
    if config.owner:
        owned = [*manifests.in_apply_order(), manifests.deployment["spec"]["template"]]
        for manifest in owned:
            manifest["metadata"]["labels"][LABEL_OWNER] = label_value(config.owner)
    return manifests


def _sha256_of(manifest: Manifest) -> str:
    """A pod-template annotation that changes with the Secret, so pods restart to read it."""
    data = repr(sorted({**manifest.get("stringData", {}), **manifest.get("data", {})}.items()))
    return hashlib.sha256(data.encode()).hexdigest()


def _secret(
    spec: DeploymentSpec, jwt_secret: bytes | None, verification_key: bytes | None
) -> Manifest:
    manifest: Manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(spec),
        "type": "Opaque",
        "stringData": {"token": spec.sidecar.token},
    }
    files = {"jwt-secret": jwt_secret, VERIFICATION_KEY: verification_key}
    data = {k: base64.b64encode(v).decode() for k, v in files.items() if v is not None}
    if data:
        manifest["data"] = data
    return manifest


def _secret_files(spec: DeploymentSpec) -> list[str]:
    """The Secret's keys mounted as files into the sidecar under SECRET_DIR."""
    keys = []
    if spec.sidecar.jwt_secret_file and not spec.sidecar.jwks_url:
        keys.append("jwt-secret")
    if spec.sidecar.bundle_key_file:
        keys.append(VERIFICATION_KEY)
    return keys


def _config_map(spec: DeploymentSpec, artifact: bytes) -> Manifest:
    manifest: Manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _metadata(spec)}
    try:
        manifest["data"] = {ARTIFACT_KEY: artifact.decode("utf-8")}
    except UnicodeDecodeError:
        manifest["binaryData"] = {ARTIFACT_KEY: base64.b64encode(artifact).decode()}
    return manifest


def _service(spec: DeploymentSpec) -> Manifest:
    port = {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(spec),
        "spec": {"type": "ClusterIP", "selector": selector(spec.deployment_id), "ports": [port]},
    }


def _deployment(
    spec: DeploymentSpec, config: KubernetesConfig, checksums: dict[str, str]
) -> Manifest:
    annotations = {
        **checksums,
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(ADMIN_PORT),
        "prometheus.io/path": "/metrics",
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(spec),
        "spec": {
            "replicas": spec.replicas,
            "revisionHistoryLimit": 3,
            "progressDeadlineSeconds": config.progress_deadline_s,
            "selector": {"matchLabels": selector(spec.deployment_id)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": labels(spec), "annotations": annotations},
                "spec": _pod_spec(spec, config),
            },
        },
    }


def _pod_spec(spec: DeploymentSpec, config: KubernetesConfig) -> Manifest:
    name = resource_name(spec)
    volumes: list[Manifest] = [
        {"name": "artifact", "configMap": {"name": name}},
        {"name": "spool", "emptyDir": {}},
    ]
    if keys := _secret_files(spec):
        items = [{"key": key, "path": key} for key in keys]
        volumes.append({"name": "secrets", "secret": {"secretName": name, "items": items}})
    return {
        "automountServiceAccountToken": False,  # neither container talks to the Kubernetes API
        "enableServiceLinks": False,
        "containers": [_agent_container(spec, config), _sidecar_container(spec, config)],
        "volumes": volumes,
    }


def _agent_command(spec: DeploymentSpec) -> list[str]:
    if spec.runtime.kind == "command":
        return [arg.replace("{port}", str(AGENT_PORT)) for arg in spec.runtime.command]
    return [
        "python3", "-m", "agent_sdk.host",
        "--artifact", f"{ARTIFACT_DIR}/{ARTIFACT_KEY}",
        "--host", "127.0.0.1",
        "--port", str(AGENT_PORT),
    ]  # fmt: skip


def _agent_probe(spec: DeploymentSpec) -> Manifest:
    """An exec probe: the agent listens on loopback only, which an httpGet probe (sent to the
    pod IP) cannot reach."""
    url = f"http://127.0.0.1:{AGENT_PORT}{spec.runtime.health_path}"
    check = f"import urllib.request; urllib.request.urlopen({url!r}, timeout=2)"
    return {"exec": {"command": ["python3", "-c", check]}, "periodSeconds": 5, "timeoutSeconds": 3}


def _container_base(name: str, config: KubernetesConfig, resources: Resources) -> Manifest:
    return {
        "name": name,
        "image": config.image,
        "imagePullPolicy": config.image_pull_policy,
        "resources": resources.as_manifest(),
        "securityContext": {"allowPrivilegeEscalation": False},
    }


def _agent_container(spec: DeploymentSpec, config: KubernetesConfig) -> Manifest:
    return {
        **_container_base("agent", config, config.agent_resources),
        "command": _agent_command(spec),
        "env": [
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},  # the artifact dir is read-only
            {"name": "PYTHONUNBUFFERED", "value": "1"},
        ],
        "readinessProbe": _agent_probe(spec),
        "volumeMounts": [{"name": "artifact", "mountPath": ARTIFACT_DIR, "readOnly": True}],
    }


def _sidecar_container(spec: DeploymentSpec, config: KubernetesConfig) -> Manifest:
    mounts: list[Manifest] = [{"name": "spool", "mountPath": SPOOL_DIR}]
    if _secret_files(spec):
        mounts.append({"name": "secrets", "mountPath": SECRET_DIR, "readOnly": True})
    token = {"secretKeyRef": {"name": resource_name(spec), "key": "token"}}
    command = sidecar_argv(
        spec,
        upstream=f"http://127.0.0.1:{AGENT_PORT}",
        listen=f"0.0.0.0:{HTTP_PORT}",
        admin_listen=f"0.0.0.0:{ADMIN_PORT}",
        jwt_secret_file=f"{SECRET_DIR}/jwt-secret",
        verification_key=f"{SECRET_DIR}/{VERIFICATION_KEY}",
        spool_dir=SPOOL_DIR,
    )
    return {
        **_container_base("sidecar", config, config.sidecar_resources),
        "command": command,
        "env": [{"name": "GREENLANG_TOKEN", "valueFrom": token}],
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "admin", "containerPort": ADMIN_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "admin"},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
        },
        "volumeMounts": mounts,
    }
