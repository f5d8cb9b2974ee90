"""The deployment controller against everything real: PostgreSQL (deployments inserted through
the store, as the lifecycle service does), a registry API on loopback that the sidecars take
their bundle from and report to, agent hosts and sidecars as processes (one test on the real
Docker engine), and calls through the recorded endpoint with a caller JWT.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import stat
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import jwt
import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from registry.api.app import create_app
from registry.api.context import ApiSettings
from registry.artifacts.filesystem import FilesystemArtifactStore
from registry.artifacts.port import ArtifactIntegrityError
from registry.auth.models import Role
from registry.auth.tokens import create_token
from registry.catalog.service import RegistryService
from registry.config import RegistryConfig
from registry.control_plane.signing_key import load_bundle_key
from registry.deployments.artifact_cache import ArtifactCache
from registry.deployments.controller import DeploymentController
from registry.deployments.deployer import Deployer, RestartPolicy
from registry.deployments.deployer_set import Factory
from registry.deployments.docker import DockerDeployer
from registry.deployments.process import ProcessDeployer
from registry.deployments.process_state import InstanceRecord
from registry.deployments.sidecar_settings import jwt_secret_file, registry_url
from registry.deployments.wiring import build_controller, deployer_factories
from registry.lifecycle.models import Deployment, DeploymentStatus, Desired, Observation
from registry.search.postgres import PostgresSearchIndex
from registry.store.port import NewDeployment
from tests.support import docker_engine
from tests.support.polling import wait_until
from tests.support.processes import pids_naming

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "agents" / "cbam-certificate-cost-estimator"
AGENT = "cbam-certificate-cost-estimator"
SECRET = b"controller-test-secret-" + b"x" * 32
ESTIMATE = {"year": 2034, "embedded_emissions_tco2e": 10}


# --- the registry and the controller --------------------------------------------------------


@dataclass
class Registry:
    """A registry API over a fresh database, the example agent registered (ACTIVE, certified,
    with its artifact), and a controller factory over one data dir."""

    service: RegistryService
    client: TestClient
    admin: str
    data_dir: Path
    secret_file: Path
    factories: dict[str, Factory]
    controller: DeploymentController | None = None

    @property
    def store(self) -> Any:
        return self.service.store

    def config(self) -> RegistryConfig:
        assert self.client.port is not None
        return RegistryConfig(
            data_dir=self.data_dir,
            database_url=None,
            artifact_url="unused",
            search_url="postgres",
            meili_key=None,
            max_artifact_bytes=1 << 20,
            port=self.client.port,
            jwt_secret_file=str(self.secret_file),
        )

    async def start_controller(self) -> DeploymentController:
        self.controller = await build_controller(
            self.config(), self.store, self.service.artifacts, self.factories, interval_s=0.2
        )
        self.controller.start()
        return self.controller

    async def stop_controller(self) -> None:
        if self.controller is not None:
            await self.controller.stop()
            self.controller = None

    async def register(self, version: str, *, artifact: bool = True) -> None:
        spec = yaml.safe_load((EXAMPLE / "agent.yaml").read_text()) | {"version": version}
        form = aiohttp.FormData()
        form.add_field("spec", yaml.safe_dump(spec), content_type="application/yaml")
        if artifact:
            form.add_field("artifact", (EXAMPLE / "artifact.py").read_bytes(), filename="a.py")
        await self.call("POST", "/api/v1/agents", data=form)
        cert = {"agent_id": AGENT, "version": version, "expires_at": "2099-01-01T00:00:00Z"}
        await self.call("POST", "/api/v1/certificates", json=cert | {"issuer": "test"})
        patch = {"status": "active", "reason": "test"}
        await self.call("PATCH", f"/api/v1/agents/{AGENT}/versions/{version}", json=patch)

    async def call(self, method: str, path: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.admin}"}
        async with self.client.request(method, path, headers=headers, **kw) as r:
            assert r.status < 300, await r.text()
            return await r.json()

    async def deploy(
        self,
        version: str = "1.2.0",
        *,
        deployer: str = "process",
        environment: str = "production",
        status: DeploymentStatus = DeploymentStatus.PROGRESSING,
        replaces: str | None = None,
    ) -> str:
        deployment_id = f"dep-{secrets.token_hex(4)}"
        new = NewDeployment(
            deployment_id=deployment_id,
            agent_id=AGENT,
            version=version,
            environment=environment,
            replicas=1,
            deployer=deployer,
            status=status,
            requested_by="tester",
            replaces=replaces,
            violations=[],
            at=datetime.now(UTC),
        )
        assert await self.store.deployments.insert(new)
        if self.controller is not None:
            self.controller.wake()
        return deployment_id

    async def get(self, deployment_id: str) -> Deployment:
        found = await self.store.deployments.get(deployment_id)
        assert found is not None
        return found

    async def wait_status(
        self, deployment_id: str, status: DeploymentStatus, limit: float = 90
    ) -> Deployment:
        seen: list[Deployment] = []

        async def probe() -> Deployment | None:
            d = await self.get(deployment_id)
            seen.append(d)
            return d if d.status == status else None

        try:
            return await wait_until(probe, limit=limit, what=f"{deployment_id} {status}")
        except AssertionError as exc:
            last = seen[-1] if seen else None
            raise AssertionError(f"{exc}; last: {last and last.model_dump_json()}") from None

    async def request_stop(self, deployment_id: str, reason: str = "undeploy") -> None:
        await self.store.deployments.request_stop(deployment_id, reason, datetime.now(UTC))


def process_factories(data_dir: Path) -> dict[str, Factory]:
    """The serve factories, with the process deployer's backoff short for the tests."""

    def process() -> Deployer:
        return ProcessDeployer(
            data_dir / "deployments",
            grace_s=5,
            restarts=RestartPolicy(backoff_base_s=0.2, backoff_max_s=2),
        )

    return deployer_factories(data_dir) | {"process": process}


async def start_registry(pool: asyncpg.Pool, tmp_path: Path, host: str) -> Registry:
    artifacts = FilesystemArtifactStore(tmp_path / "artifacts")
    service = RegistryService(pool, artifacts, PostgresSearchIndex(pool))
    data_dir = tmp_path / "data"
    # one registry: the API signs bundles with the key the controller hands to the sidecars
    key = load_bundle_key(None, data_dir)
    app = create_app(service, ApiSettings(tmp_path / "spool", 1 << 20, bundle_key=key))
    client = TestClient(TestServer(app, host=host))
    await client.start_server()
    _, admin = await create_token(service.store, Role.ADMIN, None, "admin")
    secret = tmp_path / "jwt.secret"
    secret.write_bytes(SECRET)
    registry = Registry(service, client, admin, data_dir, secret, process_factories(data_dir))
    await registry.register("1.2.0")
    return registry


@pytest.fixture
async def registry(pool: asyncpg.Pool, tmp_path: Path) -> AsyncIterator[Registry]:
    reg = await start_registry(pool, tmp_path, "127.0.0.1")
    try:
        yield reg
    finally:
        await teardown(reg)


async def teardown(reg: Registry) -> None:
    await reg.stop_controller()
    cleaner = ProcessDeployer(reg.data_dir / "deployments", grace_s=2)
    for deployment_id in await cleaner.deployed():
        await cleaner.remove(deployment_id)
    await cleaner.close()
    for pid in pids_naming(reg.data_dir):
        os.kill(pid, signal.SIGKILL)
    await reg.client.close()


# --- looking from outside -------------------------------------------------------------------


def instance_pids(data_dir: Path, deployment_id: str) -> dict[str, int]:
    [state] = (data_dir / "deployments" / deployment_id).glob("*/instance.json")
    rec = InstanceRecord.from_json(json.loads(state.read_text()))
    return {role: p.pid for role, p in rec.processes.items() if p is not None}


def caller_token() -> str:
    claims = {"sub": "carla", "roles": ["operator"], "team": "cbam-team"}
    return jwt.encode(claims | {"exp": int(time.time()) + 600}, SECRET, algorithm="HS256")


async def call(endpoint: str | None) -> tuple[int, Any]:
    assert endpoint
    headers = {"Authorization": f"Bearer {caller_token()}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{endpoint}/v1/run", json=ESTIMATE, headers=headers) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


# --- the tests -------------------------------------------------------------------------------


async def test_a_deployment_runs_serves_calls_and_stops(registry: Registry) -> None:
    await registry.start_controller()
    deployment_id = await registry.deploy()
    d = await registry.wait_status(deployment_id, DeploymentStatus.READY)
    assert d.ready_at is not None and d.observed_at is not None
    [instance] = d.instances
    assert instance.ready and instance.endpoint == d.endpoint
    status, body = await call(d.endpoint)
    assert status == 200, body
    assert body["certificates"] == 10.0
    pids = set(instance_pids(registry.data_dir, deployment_id).values())
    assert pids <= pids_naming(registry.data_dir) and len(pids) == 2

    await registry.request_stop(deployment_id, "undeploy by tester")
    d = await registry.wait_status(deployment_id, DeploymentStatus.STOPPED)
    assert d.desired == Desired.STOPPED and d.stopped_at is not None
    assert d.instances == [] and d.endpoint is None and "undeploy by tester" in d.message
    assert not pids & pids_naming(registry.data_dir)
    assert not (registry.data_dir / "deployments" / deployment_id).exists()


async def test_the_replaced_deployment_stops_once_the_new_one_is_ready(
    registry: Registry,
) -> None:
    await registry.register("1.3.0")
    await registry.start_controller()
    old = await registry.deploy("1.2.0")
    await registry.wait_status(old, DeploymentStatus.READY)
    old_pids = set(instance_pids(registry.data_dir, old).values())
    new = await registry.deploy("1.3.0", replaces=old)
    ready = await registry.wait_status(new, DeploymentStatus.READY)
    stopped = await registry.wait_status(old, DeploymentStatus.STOPPED)
    assert stopped.stop_reason == f"replaced by {new}"
    assert stopped.stopped_at is not None and ready.ready_at is not None
    assert stopped.stopped_at >= ready.ready_at
    assert not old_pids & pids_naming(registry.data_dir)
    status, _ = await call(ready.endpoint)
    assert status == 200
    async with registry.store.transaction() as tx:
        events = await tx.audit.chain_after(0, 1000)
    [audit] = [e for e in events if e["action"] == "deployment.stop"]
    assert audit["target"] == f"deployment:{old}" and audit["reason"] == f"replaced by {new}"


async def test_a_killed_agent_is_restarted_and_counted(registry: Registry) -> None:
    controller = await registry.start_controller()
    deployment_id = await registry.deploy()
    ready = await registry.wait_status(deployment_id, DeploymentStatus.READY)
    agent_pid = instance_pids(registry.data_dir, deployment_id)["agent"]
    await controller.pause()  # nothing restarts it until the test has seen it down
    os.kill(agent_pid, signal.SIGKILL)

    async def refused() -> tuple[int, Any] | None:
        status, body = await call(ready.endpoint)  # the sidecar answers for its dead agent
        return (status, body) if status != 200 else None

    status, body = await wait_until(refused, what="calls to the killed agent to fail")
    # a kept-alive connection to the dead agent may be the one tried first: reset, not refused
    kinds = {"upstream-unavailable", "upstream-reset"}
    assert status == 502 and body["type"].rsplit("/", 1)[1] in kinds, body
    controller.start()

    async def restarted() -> Deployment | None:
        d = await registry.get(deployment_id)
        healed = d.status == DeploymentStatus.READY and d.instances[0].restarts >= 1
        return d if healed else None

    d = await wait_until(restarted, limit=60, what="the agent restarted")
    assert instance_pids(registry.data_dir, deployment_id)["agent"] != agent_pid
    status, body = await call(d.endpoint)
    assert status == 200, body
    async with registry.store.transaction() as tx:
        events = await tx.audit.chain_after(0, 1000)
    [restart] = [e for e in events if e["action"] == "deployment.restart"]
    assert restart["target"] == f"deployment:{deployment_id}"
    assert restart["before"]["restarts"] == 0 and restart["after"]["restarts"] == 1
    assert restart["after"]["instance"] == d.instances[0].name


async def test_a_restarted_controller_adopts_what_runs(registry: Registry) -> None:
    await registry.start_controller()
    deployment_id = await registry.deploy()
    before = await registry.wait_status(deployment_id, DeploymentStatus.READY)
    pids = instance_pids(registry.data_dir, deployment_id)
    await registry.stop_controller()  # the registry goes away; its instances keep running
    assert set(pids.values()) <= pids_naming(registry.data_dir)

    controller = await build_controller(
        registry.config(), registry.store, registry.service.artifacts, registry.factories
    )
    for _ in range(3):
        await controller.tick()
    registry.controller = controller  # stopped by the teardown
    after = await registry.get(deployment_id)
    assert after.status == DeploymentStatus.READY and after.endpoint == before.endpoint
    assert instance_pids(registry.data_dir, deployment_id) == pids  # adopted, not restarted
    assert after.instances[0].restarts == 0
    status, _ = await call(after.endpoint)
    assert status == 200
    tokens = [t for t in await registry.store.tokens.list_all() if t["role"] == "service"]
    assert len(tokens) == 1  # the controller's token was kept, not minted again


async def test_instances_no_deployment_wants_are_removed(registry: Registry) -> None:
    """A deployment marked stopped by another path leaves orphans; the next tick removes them."""
    controller = await build_controller(
        registry.config(), registry.store, registry.service.artifacts, registry.factories
    )
    registry.controller = controller
    deployment_id = await registry.deploy()

    async def ticked_ready() -> Deployment | None:
        await controller.tick()
        d = await registry.get(deployment_id)
        return d if d.status == DeploymentStatus.READY else None

    d = await wait_until(ticked_ready, limit=90, what="ready")
    assert d.endpoint
    pids = set(instance_pids(registry.data_dir, deployment_id).values())
    gone = Observation(status=DeploymentStatus.STOPPED, instances=[], endpoint=None, message="")
    await registry.store.deployments.record_observation(deployment_id, gone, datetime.now(UTC))
    await controller.tick()
    assert not pids & pids_naming(registry.data_dir)
    assert not (registry.data_dir / "deployments" / deployment_id).exists()


async def test_a_failing_deployment_is_recorded_and_the_others_run(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    await registry.register("2.0.0", artifact=False)
    controller = await build_controller(
        registry.config(), registry.store, registry.service.artifacts, registry.factories
    )
    registry.controller = controller
    no_artifact = await registry.deploy("2.0.0")
    no_cluster = await registry.deploy("1.2.0", deployer="kubernetes")
    unknown = await registry.deploy("1.2.0", deployer="nomad", environment="staging")
    pending = await registry.deploy("1.2.0", environment="dev", status=DeploymentStatus.PENDING)
    await controller.tick()

    d = await registry.get(no_artifact)
    assert d.status == DeploymentStatus.FAILED
    assert d.message == f"{AGENT} 2.0.0 has no artifact: register the version with one to deploy it"
    d = await registry.get(no_cluster)
    assert d.status == DeploymentStatus.FAILED
    assert d.message.startswith("the kubernetes deployer is not available: ")
    assert "KUBECONFIG" in d.message
    d = await registry.get(unknown)
    assert d.status == DeploymentStatus.FAILED
    assert d.message == "unknown deployer 'nomad' (this registry has docker, kubernetes, process)"
    d = await registry.get(pending)
    assert d.status == DeploymentStatus.PENDING and d.instances == [] and d.observed_at is None
    assert await ProcessDeployer(registry.data_dir / "deployments").deployed() == []


async def test_one_failure_does_not_hold_up_the_others(registry: Registry) -> None:
    await registry.register("2.0.0", artifact=False)
    await registry.start_controller()
    broken = await registry.deploy("2.0.0")
    fine = await registry.deploy("1.2.0")
    await registry.wait_status(broken, DeploymentStatus.FAILED)
    d = await registry.wait_status(fine, DeploymentStatus.READY)
    status, _ = await call(d.endpoint)
    assert status == 200
    await registry.request_stop(broken)
    await registry.wait_status(broken, DeploymentStatus.STOPPED)


async def test_a_deployment_on_the_real_docker_engine(pool: asyncpg.Pool, tmp_path: Path) -> None:
    """The registry listens where the bridge reaches it; sidecars are given its loopback URL,
    which the docker adapter rewrites."""
    reg = await start_registry(pool, tmp_path, "0.0.0.0")
    namespace = docker_engine.namespace(tmp_path)

    def docker() -> Deployer:
        return DockerDeployer(
            docker_engine.engine(),
            image=docker_engine.runtime_image(),
            namespace=namespace,
            restarts=RestartPolicy(backoff_base_s=0.2, backoff_max_s=2),
            grace_s=5,
        )

    reg.factories = reg.factories | {"docker": docker}
    try:
        await reg.start_controller()
        deployment_id = await reg.deploy(deployer="docker")
        d = await reg.wait_status(deployment_id, DeploymentStatus.READY, limit=180)
        status, body = await call(d.endpoint)
        assert status == 200, body
        assert len(docker_engine.containers(namespace)) == 2
        await reg.request_stop(deployment_id)
        await reg.wait_status(deployment_id, DeploymentStatus.STOPPED)
        assert docker_engine.containers(namespace) == []
    finally:
        await teardown(reg)
        docker_engine.remove_all(namespace)


def test_registry_config_for_the_controller() -> None:
    env = {"GREENLANG_DEPLOYER": "docker", "GREENLANG_JWKS_URL": "https://idp/jwks"}
    cfg = RegistryConfig.load(data_dir="/tmp/x", env=env)
    assert (cfg.deployer, cfg.jwks_url, cfg.jwt_secret_file) == ("docker", "https://idp/jwks", None)
    assert RegistryConfig.load(data_dir="/tmp/x", env=env, deployer="none").deployer == "none"
    with pytest.raises(ValueError, match="choose process, docker, kubernetes or none"):
        RegistryConfig.load(data_dir="/tmp/x", env={"GREENLANG_DEPLOYER": "nomad"})


def test_where_sidecars_reach_the_registry() -> None:
    assert registry_url("127.0.0.1", 8700) == "http://127.0.0.1:8700"
    assert registry_url("0.0.0.0", 8700) == "http://127.0.0.1:8700"  # a wildcard: loopback
    assert registry_url("::1", 8700) == "http://[::1]:8700"
    assert registry_url("registry.lan", 80) == "http://registry.lan:80"
    assert registry_url("0.0.0.0", 8700, "https://reg.example/") == "https://reg.example"


def test_the_caller_jwt_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    home = tmp_path / "controller"
    path = jwt_secret_file(None, None, home)
    assert path == str(home / "jwt.secret")
    content = Path(path).read_bytes()
    assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600 and len(content.strip()) == 64
    assert jwt_secret_file(None, None, home) == path and Path(path).read_bytes() == content
    configured = tmp_path / "mine.secret"
    configured.write_bytes(SECRET)
    assert jwt_secret_file(str(configured), None, tmp_path / "other") == str(configured)
    assert jwt_secret_file(None, "https://idp/jwks", tmp_path / "other") is None
    assert not (tmp_path / "other").exists()  # nothing generated when one is configured
    with pytest.raises(ValueError, match="no such file"):
        jwt_secret_file(str(tmp_path / "missing"), None, home)


async def test_a_tampered_artifact_fails_the_deployment(registry: Registry, tmp_path: Path) -> None:
    [blob] = [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]
    blob.write_bytes(b"def run(inputs):\n    return {'owned': True}\n")
    controller = await build_controller(
        registry.config(), registry.store, registry.service.artifacts, registry.factories
    )
    registry.controller = controller
    deployment_id = await registry.deploy()
    await controller.tick()
    d = await registry.get(deployment_id)
    assert d.status == DeploymentStatus.FAILED
    assert d.message.startswith(f"the artifact of {AGENT} 1.2.0 cannot be read: ")
    assert not list((registry.data_dir / "controller" / "artifacts").rglob("*.py"))


async def test_the_artifact_cache_fetches_once_and_replaces_a_damaged_copy(
    tmp_path: Path,
) -> None:
    store = FilesystemArtifactStore(tmp_path / "store")
    source = EXAMPLE / "artifact.py"
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    stored = await store.put_file(source, sha, source.stat().st_size)
    path = await ArtifactCache(store, tmp_path / "cache").get(stored.uri, sha, "artifact.py")
    assert path.read_bytes() == source.read_bytes() and path.parent.name == sha
    path.write_bytes(b"damaged")
    again = await ArtifactCache(store, tmp_path / "cache").get(stored.uri, sha, "artifact.py")
    assert again == path and path.read_bytes() == source.read_bytes()
    with pytest.raises(ArtifactIntegrityError):  # the version's sha256 decides, not the store
        await ArtifactCache(store, tmp_path / "cache").get(stored.uri, "b" * 64, "artifact.py")
    assert not (tmp_path / "cache" / ("b" * 64) / "artifact.py").exists()
