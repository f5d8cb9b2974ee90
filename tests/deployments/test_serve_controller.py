"""`greenlang-registry serve` runs the deployment controller: a deployment stored in its database
is started behind a sidecar that authenticates callers with the registry's generated JWT
secret; stopping serve leaves the instances running and a restarted serve adopts them."""

from __future__ import annotations

import os
import secrets
import signal
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import jwt
import psutil
import pytest
import yaml

from registry.lifecycle.models import Deployment, DeploymentStatus
from registry.store.port import NewDeployment
from registry.store.postgres import PgMetadataStore
from tests.deployments.test_controller import EXAMPLE, instance_pids
from tests.e2e.stack import RegistryProcess, python_env
from tests.support.polling import wait_until
from tests.support.processes import pids_naming
from tests.support.servers import free_port

AGENT = "cbam-certificate-cost-estimator"


class Registry(RegistryProcess):
    def __init__(self, workdir: Path, database_url: str, *extra: str) -> None:
        super().__init__(workdir, database_url)
        self.extra = list(extra)

    def command(self) -> list[str]:
        return [*super().command(), *self.extra]


@pytest.fixture
async def store(pool: asyncpg.Pool) -> AsyncIterator[PgMetadataStore]:
    yield PgMetadataStore(pool)


def register(reg: RegistryProcess, token: str) -> None:
    http = httpx.Client(base_url=reg.url, headers={"Authorization": f"Bearer {token}"})
    spec = yaml.safe_load((EXAMPLE / "agent.yaml").read_text())
    files = {
        "spec": ("agent.yaml", yaml.safe_dump(spec), "application/yaml"),
        "artifact": ("a.py", (EXAMPLE / "artifact.py").read_bytes(), "text/x-python"),
    }
    assert http.post("/api/v1/agents", files=files).status_code == 201
    cert = {"agent_id": AGENT, "version": "1.2.0", "expires_at": "2099-01-01T00:00:00Z"}
    r = http.post("/api/v1/certificates", json=cert | {"issuer": "test"})
    assert r.status_code == 201, r.text
    r = http.patch(
        f"/api/v1/agents/{AGENT}/versions/1.2.0", json={"status": "active", "reason": "go"}
    )
    assert r.status_code == 200, r.text


async def deploy(store: PgMetadataStore, environment: str) -> str:
    deployment_id = f"dep-{secrets.token_hex(4)}"
    new = NewDeployment(
        deployment_id=deployment_id,
        agent_id=AGENT,
        version="1.2.0",
        environment=environment,
        replicas=1,
        deployer="process",
        status=DeploymentStatus.PROGRESSING,
        requested_by="tester",
        replaces=None,
        violations=[],
        at=datetime.now(UTC),
    )
    assert await store.deployments.insert(new)
    return deployment_id


async def wait_status(store: PgMetadataStore, deployment_id: str, status: str) -> Deployment:
    async def probe() -> Deployment | None:
        d = await store.deployments.get(deployment_id)
        return d if d is not None and d.status == status else None

    return await wait_until(probe, limit=90, what=f"{deployment_id} {status}")


def call(endpoint: str | None, secret: bytes) -> int:
    claims = {"sub": "carla", "roles": ["operator"], "exp": int(time.time()) + 600}
    token = jwt.encode(claims, secret, algorithm="HS256")
    body = {"year": 2034, "embedded_emissions_tco2e": 10}
    r = httpx.post(f"{endpoint}/v1/run", json=body, headers={"Authorization": f"Bearer {token}"})
    return r.status_code


def assert_sidecar_verifies(reg: Registry, data: Path, pid: int) -> None:
    """The sidecar verifies the registry's signed bundles with the key the controller passed."""
    argv = psutil.Process(pid).cmdline()
    key = Path(argv[argv.index("--verification-key") + 1])
    assert key == data / "controller" / "bundle-verification.pem"
    assert key.read_bytes() == httpx.get(f"{reg.url}/bundle-verification-key").content


async def test_serve_deploys_and_a_restarted_serve_adopts(
    tmp_path: Path, database_url: str, store: PgMetadataStore
) -> None:
    reg = Registry(tmp_path, database_url)
    data = tmp_path / "data"
    try:
        reg.start()
        register(reg, reg.token("admin"))
        first = await deploy(store, "production")
        d = await wait_status(store, first, "ready")
        secret_file = data / "controller" / "jwt.secret"
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        assert call(d.endpoint, secret_file.read_bytes().strip()) == 200
        assert call(d.endpoint, b"some-other-secret-" + b"y" * 32) == 401
        assert f"authenticate callers with HS256 secret {secret_file}" in reg.log()
        pids = instance_pids(data, first)
        assert_sidecar_verifies(reg, data, pids["sidecar"])

        reg.close()  # SIGTERM: the controller stops, the instances keep running
        assert set(pids.values()) <= pids_naming(data)
        reg.start()
        second = await deploy(store, "staging")  # proves the new controller reconciles
        await wait_status(store, second, "ready")
        assert instance_pids(data, first) == pids
        d = await wait_status(store, first, "ready")
        assert call(d.endpoint, secret_file.read_bytes().strip()) == 200

        for deployment_id in (first, second):
            await store.deployments.request_stop(deployment_id, "test", datetime.now(UTC))
            await wait_status(store, deployment_id, "stopped")
        assert pids_naming(data) == set()
    finally:
        reg.close()
        for pid in pids_naming(data):
            os.kill(pid, signal.SIGKILL)


def test_serve_without_a_controller(tmp_path: Path, database_url: str) -> None:
    with Registry(tmp_path, database_url, "--deployer", "none") as reg:
        assert "deployment controller: off (--deployer none)" in reg.log()
    assert not (tmp_path / "data" / "controller").exists()


def test_serve_refuses_a_missing_jwt_secret_file(tmp_path: Path, database_url: str) -> None:
    env = python_env(
        GREENLANG_DATABASE_URL=database_url,
        GREENLANG_DATA_DIR=str(tmp_path / "data"),
        GREENLANG_JWT_SECRET_FILE=str(tmp_path / "missing.secret"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "registry.cli.main", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert f"GREENLANG_JWT_SECRET_FILE {tmp_path / 'missing.secret'}: no such file" in done.stderr
