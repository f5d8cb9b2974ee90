"""What the ``docker`` deployer does beyond the Deployer contract (tests/contract/test_deployer.py
runs that on docker too): the runtime image carries the tree's code, pods are labelled and run
under an init, keep their endpoint across a restart, reach host services through the bridge,
and namespaces sharing one engine stay apart. All on the real engine; no mocks."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web
from docker import DockerClient
from docker.models.containers import Container

from registry.deployments.deployer import DeploymentSpec, DeploymentState, Phase, SidecarConfig
from registry.deployments.docker import DockerDeployer
from registry.deployments.docker_image import RuntimeSource, current_source, ensure_runtime_image
from registry.deployments.docker_pods import to_bridge
from tests.contract.test_deployer import (  # the contract's bundle, caller and convergence
    AGENT,
    ESTIMATE,
    ESTIMATOR,
    bundle,
    call,
    converge,
    docker_deployer,
    ready,
)
from tests.support import docker_engine as engines
from tests.support.bundle_keys import public_key
from tests.support.docker_engine import docker_engine
from tests.support.polling import wait_until

__all__ = ["bundle", "docker_engine"]  # fixtures defined elsewhere, used here


def make_deployer(home: Path) -> DockerDeployer:
    deployer = docker_deployer(home)
    assert isinstance(deployer, DockerDeployer)
    return deployer


@pytest.fixture
async def deployer(docker_engine: DockerClient, tmp_path: Path) -> AsyncIterator[DockerDeployer]:
    d = make_deployer(tmp_path)
    try:
        yield d
    finally:
        await d.close()
        engines.remove_all(d.namespace)


def spec_for(tmp_path: Path, bundle_location: str, deployment_id: str = "dep-d") -> DeploymentSpec:
    secret = tmp_path / "jwt.secret"
    secret.write_bytes(b"deployer-contract-secret-" + b"x" * 32)
    sidecar = SidecarConfig(
        registry_url=None,
        token=None,
        environment="production",
        bundle_url=bundle_location,
        jwt_secret_file=str(secret),
        verification_key_file=str(public_key(tmp_path)),  # production verifies bundles
    )
    return DeploymentSpec(deployment_id, AGENT, "1.0.0", "production", 1, ESTIMATOR, sidecar)


def pod_containers(d: DockerDeployer, deployment_id: str) -> dict[str, Container]:
    found = engines.containers(d.namespace)
    return {
        c.labels["greenlang.role"]: c for c in found
        if c.labels["greenlang.deployment"] == deployment_id
    }  # fmt: skip


async def test_the_runtime_image_carries_the_trees_code(
    docker_engine: DockerClient, tmp_path: Path
) -> None:
    mark = secrets.token_hex(8)
    package = tmp_path / "glprobe"
    package.mkdir()
    (package / "__init__.py").write_text(f"MARK = {mark!r}\n")
    source = RuntimeSource((package,), current_source().requirements)  # deps image reused
    tag = ensure_runtime_image(docker_engine, source)
    try:
        assert ensure_runtime_image(docker_engine, source) == tag  # unchanged: reused
        out = docker_engine.containers.run(
            tag, ["python3", "-c", "import glprobe; print(glprobe.MARK)"], remove=True
        )
        assert out.decode().strip() == mark
        (package / "__init__.py").write_text("MARK = 'changed'\n")
        assert source.runtime_tag() != tag  # a changed tree never reuses the old image
    finally:
        docker_engine.images.remove(tag, force=True)


async def test_pods_are_labelled_share_one_namespace_and_publish_on_loopback_only(
    deployer: DockerDeployer, tmp_path: Path, bundle: Path
) -> None:
    spec = spec_for(tmp_path, str(bundle))
    await converge(deployer, spec, ready(1), "a ready replica")
    pod = pod_containers(deployer, spec.deployment_id)
    assert set(pod) == {"agent", "sidecar"}
    for role, container in pod.items():
        labels = container.labels
        assert labels["greenlang.deployment"] == spec.deployment_id
        assert labels["greenlang.agent"] == AGENT and labels["greenlang.version"] == "1.0.0"
        assert labels["greenlang.replica"] == "0" and labels["greenlang.role"] == role
        assert container.attrs["HostConfig"]["Init"] is True
    assert pod["sidecar"].attrs["HostConfig"]["NetworkMode"] == f"container:{pod['agent'].id}"
    bindings = pod["agent"].attrs["HostConfig"]["PortBindings"]
    assert set(bindings) == {"8000/tcp", "8001/tcp"}  # the agent's own port is not published
    assert {b["HostIp"] for v in bindings.values() for b in v} == {"127.0.0.1"}


async def test_a_restarted_pod_keeps_its_endpoint(
    deployer: DockerDeployer, tmp_path: Path, bundle: Path
) -> None:
    spec = spec_for(tmp_path, str(bundle))
    before = await converge(deployer, spec, ready(1), "a ready replica")
    pod_containers(deployer, spec.deployment_id)["sidecar"].kill()  # the sidecar crashes
    down = await wait_until(lambda: _not_ready(deployer, spec), what="the crash to be seen")
    assert "sidecar was killed" in down.instances[0].detail
    after = await converge(
        deployer, spec, lambda s: ready(1)(s) and s.instances[0].restarts == 1, "a restart"
    )
    assert after.endpoints == before.endpoints
    status, body = await call(after.endpoints[0], "/v1/run", ESTIMATE)
    assert status == 200, body


async def _not_ready(d: DockerDeployer, spec: DeploymentSpec) -> DeploymentState | None:
    state = await d.observe(spec.deployment_id)
    return state if state.phase != Phase.READY else None


async def test_init_forwards_sigterm_so_a_stop_is_graceful(
    deployer: DockerDeployer, tmp_path: Path, bundle: Path
) -> None:
    spec = spec_for(tmp_path, str(bundle))
    await converge(deployer, spec, ready(1), "a ready replica")
    for container in pod_containers(deployer, spec.deployment_id).values():
        container.stop(timeout=60)  # without an init, PID 1 ignores SIGTERM: SIGKILL, 137
        container.reload()
        assert container.attrs["State"]["ExitCode"] in (0, 143), container.attrs["State"]


@pytest.fixture
def bundle_bytes(bundle: Path) -> bytes:
    return bundle.read_bytes()


async def test_a_bundle_url_on_the_host_loopback_is_reached_through_the_bridge(
    deployer: DockerDeployer, tmp_path: Path, bundle_bytes: bytes
) -> None:
    async def serve(_: web.Request) -> web.Response:
        return web.Response(body=bundle_bytes, content_type="application/gzip")

    app = web.Application()
    app.router.add_get("/bundle.tar.gz", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "0.0.0.0", 0)  # reachable from the bridge, as a registry must be
    await site.start()
    port = runner.addresses[0][1]
    try:
        url = f"http://127.0.0.1:{port}/bundle.tar.gz"
        assert to_bridge(url) == f"http://host.docker.internal:{port}/bundle.tar.gz"
        state = await converge(deployer, spec_for(tmp_path, url), ready(1), "a ready replica")
        status, body = await call(state.endpoints[0], "/v1/run", ESTIMATE)
        assert status == 200, body
    finally:
        await runner.cleanup()


async def test_namespaces_sharing_an_engine_stay_apart(
    deployer: DockerDeployer, tmp_path: Path, bundle: Path
) -> None:
    other_home = tmp_path / "other"
    other = make_deployer(other_home)
    try:
        spec = spec_for(tmp_path, str(bundle))
        await deployer.apply(spec)
        await other.apply(replace(spec, replicas=2))
        assert await deployer.deployed() == await other.deployed() == [spec.deployment_id]
        await deployer.remove(spec.deployment_id)
        assert await deployer.deployed() == []
        assert len((await other.observe(spec.deployment_id)).instances) == 2
    finally:
        await other.close()
        engines.remove_all(other.namespace)


def test_only_loopback_urls_are_rewritten() -> None:
    assert to_bridge("http://localhost/x?y=1") == "http://host.docker.internal/x?y=1"
    assert to_bridge("http://[::1]:8181") == "http://host.docker.internal:8181"
    assert to_bridge("https://registry.example:8443/a") == "https://registry.example:8443/a"
    assert to_bridge("embedded") == "embedded"
