"""The Deployer contract, run against every adapter in ADAPTERS (process; docker on the real
engine of tests/support/docker_engine.py; kubernetes adds one line). Everything is real: agent
hosts, sidecars with the embedded engine over a bundle of the stock policies in which the agent
is ACTIVE and certified, and calls through each instance's endpoint.

Broken artifacts: an agent that cannot start (the host exits 2: the artifact does not import)
ends FAILED with the host's one-line reason in the instance detail and is not restarted; an
agent that crashes after starting is restarted with backoff, its restarts counted.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest

from bundles.assemble import assemble
from bundles.compiler import compile_policies
from bundles.layout import STOCK_POLICY_DIR
from registry.deployments.deployer import (
    Deployer,
    DeploymentSpec,
    DeploymentState,
    Phase,
    RestartPolicy,
    Runtime,
    SidecarConfig,
)
from registry.deployments.docker import DockerDeployer
from registry.deployments.process import ProcessDeployer
from registry.deployments.process_state import InstanceRecord
from tests.support import docker_engine
from tests.support.bundle_keys import public_key, signing
from tests.support.polling import wait_until
from tests.support.processes import pids_naming

ROOT = Path(__file__).resolve().parents[2]
ESTIMATOR = ROOT / "examples" / "agents" / "cbam-certificate-cost-estimator" / "artifact.py"
CBAM_SERVER = ROOT / "examples" / "cbam_agent" / "agent.py"
AGENT = "cbam-certificate-cost-estimator"
SECRET = b"deployer-contract-secret-" + b"x" * 32
FAR = 4_102_444_800_000_000_000  # 2100-01-01 in ns


# --- adapters -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Adapter:
    """How the suite drives one adapter and looks at what it runs, from outside the adapter."""

    make: Callable[[Path], Deployer]  # a deployer keeping its state under this home dir
    units: Callable[[Path], set[str]]  # what runs for the home dir (pids, containers, pods)
    kill_agent: Callable[[Path, str], None]  # crash the agent of the instance of this name
    stop_all: Callable[[Path], None]  # teardown's last resort, after remove()
    units_per_instance: int = 2  # agent + sidecar


def process_deployer(home: Path) -> Deployer:
    return ProcessDeployer(
        home / "deployments", grace_s=5, restarts=RestartPolicy(backoff_base_s=0.2, backoff_max_s=2)
    )


def process_pids(home: Path) -> set[str]:
    """Live processes whose command line names the home dir (artifact path, spool dir)."""
    return {str(pid) for pid in pids_naming(home)}


def process_kill_agent(home: Path, instance: str) -> None:
    [state] = home.glob(f"deployments/*/{instance}/instance.json")
    rec = InstanceRecord.from_json(json.loads(state.read_text()))
    agent = rec.processes["agent"]
    assert agent is not None
    os.kill(agent.pid, signal.SIGKILL)


def process_stop_all(home: Path) -> None:
    for pid in process_pids(home):
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


def docker_deployer(home: Path) -> Deployer:
    return DockerDeployer(
        docker_engine.engine(),
        image=docker_engine.runtime_image(),
        namespace=docker_engine.namespace(home),
        restarts=RestartPolicy(backoff_base_s=0.2, backoff_max_s=2),
        grace_s=5,
    )


def docker_containers(home: Path) -> set[str]:
    return {c.id for c in docker_engine.containers(docker_engine.namespace(home))}


def docker_kill_agent(home: Path, instance: str) -> None:
    deployment, replica = instance.rsplit("-", 1)
    [agent] = [
        c
        for c in docker_engine.containers(docker_engine.namespace(home))
        if c.labels["greenlang.deployment"] == deployment
        and c.labels["greenlang.replica"] == replica
        and c.labels["greenlang.role"] == "agent"
    ]
    agent.kill()


def docker_stop_all(home: Path) -> None:
    docker_engine.remove_all(docker_engine.namespace(home))


ADAPTERS = {
    "process": Adapter(process_deployer, process_pids, process_kill_agent, process_stop_all),
    "docker": Adapter(docker_deployer, docker_containers, docker_kill_agent, docker_stop_all),
}


# --- fixtures -----------------------------------------------------------------------------


@dataclass
class Setup:
    adapter: Adapter
    home: Path
    deployer: Deployer
    bundle: Path
    secret: Path

    def spec(self, deployment_id: str = "dep-a", replicas: int = 1, **kw: Any) -> DeploymentSpec:
        sidecar = SidecarConfig(
            registry_url=None,
            token=None,
            environment="production",
            bundle_url=str(self.bundle),
            jwt_secret_file=str(self.secret),
            verification_key_file=str(public_key(self.home)),  # production verifies bundles
        )
        fields: dict[str, Any] = {
            "deployment_id": deployment_id,
            "agent_id": AGENT,
            "version": "1.0.0",
            "environment": "production",
            "replicas": replicas,
            "artifact": ESTIMATOR,
            "sidecar": sidecar,
        }
        return DeploymentSpec(**(fields | kw))

    def units(self) -> set[str]:
        return self.adapter.units(self.home)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    entry = {
        "owner_team": "cbam-team",
        "version": "1.0.0",
        "status": "ACTIVE",
        "certificate_id": "cert-1",
        "certificate_expires_at": FAR,
    }
    catalog = {AGENT: entry, "gl-cbam-embedded-emissions": entry}
    path = tmp_path_factory.mktemp("bundle") / "bundle.tar.gz"
    built = assemble(compile_policies([STOCK_POLICY_DIR]), catalog=catalog, signing=signing())
    path.write_bytes(built.content)
    return path


@pytest.fixture(params=sorted(ADAPTERS))
async def setup(
    request: pytest.FixtureRequest, tmp_path: Path, bundle: Path
) -> AsyncIterator[Setup]:
    adapter = ADAPTERS[request.param]
    secret = tmp_path / "jwt.secret"
    secret.write_bytes(SECRET)
    home = tmp_path / "home"
    home.mkdir()
    s = Setup(adapter, home, adapter.make(home), bundle, secret)
    try:
        yield s
    finally:
        await s.deployer.close()
        cleaner = adapter.make(home)
        try:
            for deployment_id in await cleaner.deployed():
                await cleaner.remove(deployment_id)
        finally:
            await cleaner.close()
            adapter.stop_all(home)


# --- helpers ------------------------------------------------------------------------------


async def converge(
    deployer: Deployer,
    spec: DeploymentSpec,
    done: Callable[[DeploymentState], bool],
    what: str,
    limit: float = 120.0,
) -> DeploymentState:
    """Apply the spec again and again, as the controller's reconcile loop does, until ``done``."""
    seen: list[DeploymentState] = []

    async def step() -> DeploymentState | None:
        state = await deployer.apply(spec)
        seen.append(state)
        return state if done(state) else None

    try:
        return await wait_until(step, limit=limit, interval=0.3, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last state: {seen[-1] if seen else None}") from None


def ready(replicas: int) -> Callable[[DeploymentState], bool]:
    return lambda s: s.phase == Phase.READY and len(s.endpoints) == replicas


def caller_token() -> str:
    claims = {"sub": "carla", "roles": ["operator"], "team": "cbam-team"}
    return jwt.encode(claims | {"exp": int(time.time()) + 600}, SECRET, algorithm="HS256")


async def call(
    endpoint: str, path: str, body: dict[str, Any], *, authenticated: bool = True
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {caller_token()}"} if authenticated else {}
    async with (
        aiohttp.ClientSession() as http,
        http.post(endpoint + path, json=body, headers=headers) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


ESTIMATE = {"year": 2034, "embedded_emissions_tco2e": 10}


# --- the contract -------------------------------------------------------------------------


async def test_apply_starts_replicas_that_answer_through_their_endpoints(setup: Setup) -> None:
    spec = setup.spec(replicas=2)
    first = await setup.deployer.apply(spec)
    assert first.phase == Phase.PROGRESSING and not first.endpoints  # apply does not wait
    state = await converge(setup.deployer, spec, ready(2), "2 ready replicas")
    assert len(set(state.endpoints)) == 2 and len(state.instances) == 2
    for endpoint in state.endpoints:
        status, body = await call(endpoint, "/v1/run", ESTIMATE)
        assert status == 200, body
        assert body["certificates"] == 10.0
    status, body = await call(state.endpoints[0], "/v1/run", {"year": "x"})
    assert status == 500 and body["detail"] == "run() raised ValueError"
    status, _ = await call(state.endpoints[0], "/v1/run", ESTIMATE, authenticated=False)
    assert status == 401  # the endpoint is the sidecar's, not the agent's
    assert len(setup.units()) == 2 * setup.adapter.units_per_instance


async def test_apply_is_idempotent(setup: Setup) -> None:
    spec = setup.spec(replicas=2)
    before = await converge(setup.deployer, spec, ready(2), "2 ready replicas")
    units = setup.units()
    after = await setup.deployer.apply(spec)
    assert after.phase == Phase.READY
    assert [(i.name, i.endpoint, i.restarts) for i in after.instances] == [
        (i.name, i.endpoint, i.restarts) for i in before.instances
    ]
    assert setup.units() == units


async def test_scaling_down_stops_the_extra_replica(setup: Setup) -> None:
    spec = setup.spec(replicas=2)
    before = await converge(setup.deployer, spec, ready(2), "2 ready replicas")
    after = await setup.deployer.apply(replace(spec, replicas=1))
    assert len(after.instances) == 1 and after.instances[0].name == before.instances[0].name
    await converge(setup.deployer, replace(spec, replicas=1), ready(1), "1 ready replica")
    assert len(setup.units()) == setup.adapter.units_per_instance
    status, _ = await call(after.instances[0].endpoint or "", "/v1/run", ESTIMATE)
    assert status == 200


async def test_a_killed_agent_is_replaced_and_counted(setup: Setup) -> None:
    spec = setup.spec()
    state = await converge(setup.deployer, spec, ready(1), "a ready replica")
    [instance] = state.instances
    setup.adapter.kill_agent(setup.home, instance.name)
    down = await wait_until(
        lambda: _not_ready(setup.deployer, spec.deployment_id), what="the kill to be seen"
    )
    assert "agent" in down.instances[0].detail
    healed = await converge(
        setup.deployer, spec, lambda s: ready(1)(s) and s.instances[0].restarts >= 1, "a restart"
    )
    assert healed.instances[0].name == instance.name
    status, body = await call(healed.endpoints[0], "/v1/run", ESTIMATE)
    assert status == 200, body
    assert len(setup.units()) == setup.adapter.units_per_instance


async def _not_ready(deployer: Deployer, deployment_id: str) -> DeploymentState | None:
    state = await deployer.observe(deployment_id)
    return state if state.phase != Phase.READY else None


async def test_a_new_deployer_adopts_running_instances(setup: Setup) -> None:
    spec = setup.spec(replicas=2)
    before = await converge(setup.deployer, spec, ready(2), "2 ready replicas")
    units = setup.units()
    await setup.deployer.close()  # the controller goes away; its instances keep running
    setup.deployer = setup.adapter.make(setup.home)
    assert await setup.deployer.deployed() == [spec.deployment_id]
    observed = await setup.deployer.observe(spec.deployment_id)
    assert observed.phase == Phase.READY and observed.endpoints == before.endpoints
    after = await setup.deployer.apply(spec)
    assert after.phase == Phase.READY and after.endpoints == before.endpoints
    assert all(i.restarts == 0 for i in after.instances)
    assert setup.units() == units


async def test_remove_leaves_nothing_running(setup: Setup) -> None:
    spec = setup.spec(replicas=2)
    await converge(setup.deployer, spec, ready(2), "2 ready replicas")
    await setup.deployer.remove(spec.deployment_id)
    assert setup.units() == set()
    assert (await setup.deployer.observe(spec.deployment_id)).phase == Phase.ABSENT
    assert await setup.deployer.deployed() == []
    await setup.deployer.remove(spec.deployment_id)  # idempotent


async def test_deployed_lists_exactly_what_runs(setup: Setup) -> None:
    assert await setup.deployer.deployed() == []
    a, b = setup.spec("dep-a"), setup.spec("dep-b")
    await setup.deployer.apply(a)
    await setup.deployer.apply(b)
    assert await setup.deployer.deployed() == ["dep-a", "dep-b"]
    await converge(setup.deployer, b, ready(1), "dep-b ready")
    await setup.deployer.remove("dep-a")
    assert await setup.deployer.deployed() == ["dep-b"]
    assert len(setup.units()) == setup.adapter.units_per_instance


async def test_an_artifact_that_cannot_start_ends_failed_with_its_reason(
    setup: Setup, tmp_path: Path
) -> None:
    broken = tmp_path / "artifact.py"
    broken.write_text("raise RuntimeError('model weights missing')\n")
    spec = setup.spec(artifact=broken)
    state = await converge(setup.deployer, spec, lambda s: s.phase == Phase.FAILED, "FAILED")
    [instance] = state.instances
    assert not instance.ready and instance.restarts == 0
    assert "failed to import: RuntimeError: model weights missing" in instance.detail
    assert "model weights missing" in state.message
    again = await setup.deployer.apply(spec)  # not restarted: it would fail the same way
    assert again.phase == Phase.FAILED and again.instances[0].restarts == 0
    await setup.deployer.remove(spec.deployment_id)
    assert setup.units() == set()


async def test_an_agent_with_its_own_server_command(setup: Setup) -> None:
    runtime = Runtime(
        "command", ("python3", "{artifact}", "--host", "127.0.0.1", "--port", "{port}")
    )
    spec = setup.spec(agent_id="gl-cbam-embedded-emissions", artifact=CBAM_SERVER, runtime=runtime)
    state = await converge(setup.deployer, spec, ready(1), "a ready replica")
    goods = [{"cn_code": "72081000", "quantity_tonnes": 10, "country_of_origin": "CN"}]
    status, body = await call(
        state.endpoints[0], "/v1/calculate", {"goods": goods, "declarant": {"name": "A"}}
    )
    assert status == 200, body
    assert body["totals"]["embedded_tco2e"] == 21.5


async def test_observing_an_unknown_deployment_is_absent(setup: Setup) -> None:
    state = await setup.deployer.observe("never-deployed")
    assert state.phase == Phase.ABSENT and state.instances == () and state.endpoints == []


async def test_a_spec_that_cannot_start_is_refused_before_anything_runs(
    setup: Setup, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="no such file"):
        await setup.deployer.apply(setup.spec(artifact=tmp_path / "missing.py"))
    with pytest.raises(ValueError, match="needs its command"):
        await setup.deployer.apply(setup.spec(runtime=Runtime("command")))
    assert await setup.deployer.deployed() == [] and setup.units() == set()


async def test_an_agent_that_keeps_crashing_is_restarted_then_given_up(setup: Setup) -> None:
    crash = "import sys; print('no licence key'); sys.exit(1)"
    spec = setup.spec(runtime=Runtime("command", ("python3", "-c", crash, "{port}")))
    state = await converge(setup.deployer, spec, lambda s: s.phase == Phase.FAILED, "FAILED")
    [instance] = state.instances
    assert instance.restarts >= 2 and not instance.ready
    assert "agent exited with code 1: no licence key" in instance.detail
    assert "failures in a row" in instance.detail
