"""The ``kubernetes`` Deployer: each deployment is a Deployment, Service, ConfigMap and Secret.

Objects are written by server-side apply (field manager ``greenlang-registry``), so ``apply`` is
idempotent and a restarted controller converges the same objects; they are found again by the
``greenlang.dev/deployment`` label (adoption needs no local state). ``observe`` reads the
Deployment's rollout status. The endpoint is the Service's in-cluster URL
``http://<service>.<namespace>.svc:8080``: callers reach it from inside the cluster, or through
an Ingress an operator adds. The official client is blocking, so every call runs in a thread.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from registry.deployments.deployer import DeploymentSpec, DeploymentState, Phase
from registry.deployments.k8s_manifests import (
    ANNOTATION_DEPLOYMENT_ID,
    HTTP_PORT,
    LABEL_MANAGED_BY,
    LABEL_OWNER,
    MANAGED_BY,
    ArtifactTooLarge,
    KubernetesConfig,
    Manifest,
    render,
    selector,
)
from registry.deployments.k8s_names import label_value
from registry.deployments.k8s_status import rollout_state

FIELD_MANAGER = "greenlang-registry"
_TIMEOUT = (5.0, 30.0)  # connect, read: a dead API server must not hang the controller
_KINDS = ("Secret", "ConfigMap", "Service", "Deployment")
_SNAKE = {"ConfigMap": "config_map"}


class KubernetesUnavailable(RuntimeError):
    """The API server could not be reached or failed; the next reconcile tick may succeed."""


def _api_client(kubeconfig: str | None) -> k8s.ApiClient:
    path = kubeconfig or os.environ.get("KUBECONFIG")
    if path:
        return k8s_config.new_client_from_config(config_file=path)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):  # the registry itself runs in a pod
        configuration = k8s.Configuration()
        k8s_config.load_incluster_config(client_configuration=configuration)
        return k8s.ApiClient(configuration)
    raise KubernetesUnavailable("the kubernetes deployer needs a kubeconfig: set KUBECONFIG")


def _problem(exc: ApiException) -> str:
    """The API server's own message (it names the invalid field), not the whole response."""
    try:
        return str(json.loads(exc.body or "")["message"])
    except (ValueError, KeyError, TypeError):
        return f"{exc.status} {exc.reason}"


def _refused(exc: ApiException) -> bool:
    """A 4xx that retrying will not fix (invalid, forbidden), as opposed to a passing outage."""
    return exc.status is not None and 400 <= exc.status < 500 and exc.status not in (408, 429)


class KubernetesDeployer:
    name = "kubernetes"

    def __init__(
        self, config: KubernetesConfig | None = None, kubeconfig: str | None = None
    ) -> None:
        self.config = config or KubernetesConfig()
        self._client = _api_client(kubeconfig)
        self._core = k8s.CoreV1Api(self._client)
        self._apps = k8s.AppsV1Api(self._client)

    # -- the port ------------------------------------------------------------------------

    async def apply(self, spec: DeploymentSpec) -> DeploymentState:
        try:
            manifests = render(spec, self.config, *await asyncio.to_thread(_read_inputs, spec))
        except (ArtifactTooLarge, OSError) as exc:
            return DeploymentState(spec.deployment_id, Phase.FAILED, message=str(exc))
        for manifest in manifests.in_apply_order():
            try:
                await self._apply_one(manifest)
            except ApiException as exc:
                if not _refused(exc):
                    raise KubernetesUnavailable(_problem(exc)) from None
                message = f"kubernetes refused {manifest['kind']} {manifest['metadata']['name']}"
                return DeploymentState(
                    spec.deployment_id, Phase.FAILED, message=f"{message}: {_problem(exc)}"
                )
        return await self.observe(spec.deployment_id)

    async def observe(self, deployment_id: str) -> DeploymentState:
        deployments = await self._list("Deployment", deployment_id)
        deployment = deployments[0] if deployments else None
        pods: list[Manifest] = []
        endpoint = ""
        if deployment is not None:
            pods = await self._list("Pod", deployment_id)
            endpoint = self.endpoint(deployment["metadata"]["name"])
        return rollout_state(deployment_id, deployment, pods, endpoint)

    async def remove(self, deployment_id: str) -> None:
        for kind in reversed(_KINDS):
            for obj in await self._list(kind, deployment_id):
                try:
                    delete = self._method("delete", kind)
                    await self._call(delete, name=obj["metadata"]["name"])
                except ApiException as exc:
                    if exc.status != 404:  # already gone: that is what was asked
                        raise KubernetesUnavailable(_problem(exc)) from None

    async def deployed(self) -> list[str]:
        ids: set[str] = set()
        for kind in _KINDS:
            for obj in await self._list(kind, None):
                annotations = obj["metadata"].get("annotations") or {}
                if ANNOTATION_DEPLOYMENT_ID in annotations:
                    ids.add(annotations[ANNOTATION_DEPLOYMENT_ID])
        return sorted(ids)

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)

    # -- helpers -------------------------------------------------------------------------

    def endpoint(self, service_name: str) -> str:
        return f"http://{service_name}.{self.config.namespace}.svc:{HTTP_PORT}"

    async def _apply_one(self, manifest: Manifest) -> None:
        """Server-side apply: creates or updates, and owns exactly the fields rendered."""
        await self._call(
            self._method("patch", manifest["kind"]),
            name=manifest["metadata"]["name"],
            body=manifest,
            field_manager=FIELD_MANAGER,
            field_validation="Strict",  # a misspelt field is an error, not silently dropped
            force=True,
            _content_type="application/apply-patch+yaml",
        )

    def _method(self, verb: str, kind: str) -> Callable[..., Any]:
        api = self._apps if kind == "Deployment" else self._core
        snake = _SNAKE.get(kind, kind.lower())
        return getattr(api, f"{verb}_namespaced_{snake}")

    async def _call(self, method: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(
                method, namespace=self.config.namespace, _request_timeout=_TIMEOUT, **kwargs
            )
        except HTTPError as exc:
            raise KubernetesUnavailable(f"kubernetes API unreachable: {exc}") from None

    async def _list(self, kind: str, deployment_id: str | None) -> list[Manifest]:
        """Our objects of ``kind``: of one deployment, or (``None``) of every deployment."""
        wanted = {LABEL_MANAGED_BY: MANAGED_BY}
        if self.config.owner:
            wanted[LABEL_OWNER] = label_value(self.config.owner)
        if deployment_id is not None:
            wanted.update(selector(deployment_id))
        query = ",".join(f"{k}={v}" for k, v in wanted.items())
        try:
            result = await self._call(self._method("list", kind), label_selector=query)
        except ApiException as exc:
            raise KubernetesUnavailable(_problem(exc)) from None
        return list(self._client.sanitize_for_serialization(result).get("items") or [])


def _read_inputs(spec: DeploymentSpec) -> tuple[bytes, bytes | None, bytes | None]:
    """The artifact, the caller-auth secret when the sidecar uses an HS256 secret file, and
    the public bundle key when the sidecar loads bundles itself."""
    cfg = spec.sidecar
    jwt = cfg.jwt_secret_file
    secret = Path(jwt).read_bytes() if jwt and not cfg.jwks_url else None
    key = cfg.bundle_key_file
    public = Path(key).read_bytes() if key else None
    return Path(spec.artifact).read_bytes(), secret, public
