"""The kubernetes Deployer against a real API server (kube-apiserver, controller-manager,
scheduler; a kwok fake node moves scheduled pods to Running/Ready).

Containers do not really run under kwok, so calling an agent through the endpoint is out of scope
here (the process and docker adapters' tests call agents): these tests check what the API server
decides - objects and labels, validation, rollout status, scaling, adoption, deletion. Each test
works in its own namespace. ``deployer`` is built by ``make_deployer`` so the Deployer contract
suite can run these checks through the same factory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from registry.deployments.deployer import DeploymentSpec, DeploymentState, Phase
from registry.deployments.k8s_manifests import KubernetesConfig
from registry.deployments.kubernetes import KubernetesDeployer
from tests.support.bundle_keys import public_key
from tests.support.kube import SHIPPED, KubeCluster, example_spec, make_deployer

KINDS = ("deployment", "service", "config_map", "secret")


@pytest.fixture
def namespace(kube_cluster: KubeCluster) -> str:
    return kube_cluster.create_namespace(f"t-{secrets.token_hex(4)}")


@pytest.fixture
async def deployer(kube_cluster: KubeCluster, namespace: str) -> AsyncIterator[KubernetesDeployer]:
    d = make_deployer(kube_cluster, namespace)
    yield d
    await d.close()


@pytest.fixture
def spec(tmp_path: Path) -> DeploymentSpec:
    secret = tmp_path / "jwt-secret"
    secret.write_bytes(b"s3cret")
    key = public_key(tmp_path)  # the registry's public bundle key, carried in the Secret
    return example_spec(
        deployment_id=f"dep-{secrets.token_hex(3)}",
        jwt_secret_file=str(secret),
        verification_key_file=str(key),
    )


async def until(
    read: Callable[[], Awaitable[DeploymentState]],
    ok: Callable[[DeploymentState], bool],
    limit: float = 60.0,
) -> DeploymentState:
    """Poll ``read`` until ``ok``; fail with the last state seen."""
    state = await read()
    try:
        async with asyncio.timeout(limit):
            while not ok(state):
                await asyncio.sleep(0.3)
                state = await read()
    except TimeoutError:
        raise AssertionError(f"timed out; last state: {state}") from None
    return state


def objects(cluster: KubeCluster, namespace: str, deployment_id: str) -> dict[str, list[Any]]:
    """Our objects of one deployment, per kind, straight from the API server."""
    core, apps = cluster.core(), cluster.apps()
    query = f"greenlang.dev/deployment={deployment_id}"
    return {
        "deployment": apps.list_namespaced_deployment(namespace, label_selector=query).items,
        "service": core.list_namespaced_service(namespace, label_selector=query).items,
        "config_map": core.list_namespaced_config_map(namespace, label_selector=query).items,
        "secret": core.list_namespaced_secret(namespace, label_selector=query).items,
        "pod": core.list_namespaced_pod(namespace, label_selector=query).items,
    }


def ready_with(n: int) -> Callable[[DeploymentState], bool]:
    return lambda s: s.phase is Phase.READY and len(s.instances) == n


async def test_apply_creates_the_labelled_objects(
    deployer: KubernetesDeployer, kube_cluster: KubeCluster, namespace: str, spec: DeploymentSpec
) -> None:
    state = await deployer.apply(spec)
    assert state.phase in (Phase.PROGRESSING, Phase.READY), state
    found = objects(kube_cluster, namespace, spec.deployment_id)
    for kind in KINDS:
        assert len(found[kind]) == 1, kind
        labels = found[kind][0].metadata.labels
        assert labels["greenlang.dev/agent"] == "grid-intensity-monitor"
        assert labels["greenlang.dev/version"] == "0.7.0"
        assert labels["app.kubernetes.io/name"] == "grid-intensity-monitor"
    config_map = found["config_map"][0]
    assert config_map.data["artifact.py"] == spec.artifact.read_text()
    assert found["service"][0].spec.ports[0].port == 8080


async def test_kwok_pods_become_ready_and_the_rollout_completes(
    deployer: KubernetesDeployer, kube_cluster: KubeCluster, namespace: str, spec: DeploymentSpec
) -> None:
    await deployer.apply(spec)
    state = await until(lambda: deployer.observe(spec.deployment_id), ready_with(2))
    name = kube_cluster.apps().list_namespaced_deployment(namespace).items[0].metadata.name
    assert all(i.ready and i.restarts == 0 for i in state.instances)
    assert set(state.endpoints) == {f"http://{name}.{namespace}.svc:8080"}
    status = kube_cluster.apps().read_namespaced_deployment_status(name, namespace).status
    assert (status.updated_replicas, status.available_replicas) == (2, 2)


async def test_scale_down_and_change_version_roll_the_same_deployment(
    deployer: KubernetesDeployer, kube_cluster: KubeCluster, namespace: str, spec: DeploymentSpec
) -> None:
    await deployer.apply(spec)
    await until(lambda: deployer.observe(spec.deployment_id), ready_with(2))
    await deployer.apply(dataclasses.replace(spec, replicas=1))
    await until(lambda: deployer.observe(spec.deployment_id), ready_with(1))
    older = dataclasses.replace(spec, replicas=1, version="0.6.0")
    await deployer.apply(older)
    state = await until(lambda: deployer.observe(spec.deployment_id), ready_with(1))
    found = objects(kube_cluster, namespace, spec.deployment_id)
    assert len(found["deployment"]) == 1
    assert found["deployment"][0].metadata.labels["greenlang.dev/version"] == "0.6.0"
    pod = next(p for p in found["pod"] if p.metadata.name == state.instances[0].name)
    assert pod.metadata.labels["greenlang.dev/version"] == "0.6.0"


async def test_a_new_adapter_adopts_the_deployment_and_reapply_changes_nothing(
    deployer: KubernetesDeployer, kube_cluster: KubeCluster, namespace: str, spec: DeploymentSpec
) -> None:
    await deployer.apply(spec)
    await until(lambda: deployer.observe(spec.deployment_id), ready_with(2))
    generation = objects(kube_cluster, namespace, spec.deployment_id)["deployment"][0]
    second = make_deployer(kube_cluster, namespace)
    try:
        assert await second.deployed() == [spec.deployment_id]
        adopted = await second.observe(spec.deployment_id)
        assert adopted.phase is Phase.READY and len(adopted.instances) == 2
        again = await second.apply(spec)
        assert again.phase is Phase.READY
    finally:
        await second.close()
    after = objects(kube_cluster, namespace, spec.deployment_id)
    assert after["deployment"][0].metadata.generation == generation.metadata.generation
    assert len(after["pod"]) == 2


async def test_remove_deletes_everything_and_is_idempotent(
    deployer: KubernetesDeployer, kube_cluster: KubeCluster, namespace: str, spec: DeploymentSpec
) -> None:
    await deployer.apply(spec)
    await until(lambda: deployer.observe(spec.deployment_id), ready_with(2))
    await deployer.remove(spec.deployment_id)
    assert (await deployer.observe(spec.deployment_id)).phase is Phase.ABSENT
    found = objects(kube_cluster, namespace, spec.deployment_id)
    assert all(found[kind] == [] for kind in KINDS), found
    await deployer.remove(spec.deployment_id)  # nothing left: no error
    await deployer.remove("never-deployed")
    deadline = time.monotonic() + 60
    while objects(kube_cluster, namespace, spec.deployment_id)["pod"]:
        assert time.monotonic() < deadline, "pods of a removed deployment remain"
        await asyncio.sleep(0.3)
    assert await deployer.deployed() == []


async def test_deployed_lists_exactly_ours(
    deployer: KubernetesDeployer, kube_cluster: KubeCluster, namespace: str, spec: DeploymentSpec
) -> None:
    other = dataclasses.replace(spec, deployment_id="Other_Deployment+1", replicas=1)
    await deployer.apply(spec)
    await deployer.apply(other)
    foreign = yaml.safe_load((SHIPPED / "deployment.yaml").read_text())
    foreign["metadata"] = {"name": "not-ours", "labels": {"app": "not-ours"}}
    kube_cluster.apps().create_namespaced_deployment(namespace, foreign)
    elsewhere = make_deployer(kube_cluster, kube_cluster.create_namespace(namespace + "-b"))
    try:
        assert await elsewhere.deployed() == []
    finally:
        await elsewhere.close()
    assert await deployer.deployed() == sorted([spec.deployment_id, other.deployment_id])
    await deployer.remove(other.deployment_id)
    assert await deployer.deployed() == [spec.deployment_id]


async def test_registries_sharing_a_namespace_see_and_remove_only_their_own(
    kube_cluster: KubeCluster, namespace: str, spec: DeploymentSpec
) -> None:
    kubeconfig = str(kube_cluster.kubeconfig)
    a = KubernetesDeployer(KubernetesConfig(namespace=namespace, owner="reg-a"), kubeconfig)
    b = KubernetesDeployer(KubernetesConfig(namespace=namespace, owner="reg-b"), kubeconfig)
    try:
        theirs = dataclasses.replace(spec, deployment_id="dep-of-b", replicas=1)
        await a.apply(spec)
        await b.apply(theirs)
        assert await a.deployed() == [spec.deployment_id]
        assert await b.deployed() == [theirs.deployment_id]
        await a.remove(theirs.deployment_id)  # not a's: nothing happens to it
        assert objects(kube_cluster, namespace, theirs.deployment_id)["deployment"]
        assert (await b.observe(theirs.deployment_id)).phase is not Phase.ABSENT
    finally:
        await a.close()
        await b.close()


async def test_an_invalid_object_is_failed_with_the_api_servers_reason(
    deployer: KubernetesDeployer, spec: DeploymentSpec
) -> None:
    state = await deployer.apply(dataclasses.replace(spec, replicas=-1))
    assert state.phase is Phase.FAILED
    assert "kubernetes refused Deployment" in state.message
    assert "spec.replicas" in state.message


async def test_an_unsupported_setting_is_failed_with_the_api_servers_reason(
    kube_cluster: KubeCluster, namespace: str, spec: DeploymentSpec
) -> None:
    config = KubernetesConfig(namespace=namespace, image_pull_policy="Sometimes")
    d = KubernetesDeployer(config, str(kube_cluster.kubeconfig))
    try:
        state = await d.apply(spec)
    finally:
        await d.close()
    assert state.phase is Phase.FAILED
    assert "kubernetes refused Deployment" in state.message and "imagePullPolicy" in state.message


async def test_an_artifact_too_large_for_a_config_map_is_failed_before_any_call(
    deployer: KubernetesDeployer,
    kube_cluster: KubeCluster,
    namespace: str,
    spec: DeploymentSpec,
    tmp_path: Path,
) -> None:
    big = tmp_path / "artifact.py"
    big.write_bytes(b"#" * (901 * 1024))
    state = await deployer.apply(dataclasses.replace(spec, artifact=big))
    assert state.phase is Phase.FAILED and "ConfigMap" in state.message
    found = objects(kube_cluster, namespace, spec.deployment_id)
    assert all(found[kind] == [] for kind in KINDS)


def test_the_shipped_manifests_pass_server_side_dry_run(
    kube_cluster: KubeCluster, namespace: str
) -> None:
    core, apps = kube_cluster.core(), kube_cluster.apps()
    for file in sorted(SHIPPED.glob("*.yaml")):
        manifest = yaml.safe_load(file.read_text())
        create = {
            "Deployment": apps.create_namespaced_deployment,
            "Service": core.create_namespaced_service,
            "ConfigMap": core.create_namespaced_config_map,
            "Secret": core.create_namespaced_secret,
        }[manifest["kind"]]
        create(namespace, manifest, dry_run="All")
    broken = yaml.safe_load((SHIPPED / "service.yaml").read_text())
    broken["spec"]["ports"][0]["port"] = 70000
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_service(namespace, broken, dry_run="All")
    assert refused.value.status == 422
    assert core.list_namespaced_service(namespace).items == []  # dry run stored nothing
