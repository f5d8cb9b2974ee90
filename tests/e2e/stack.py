"""Real processes for the sidecar's end-to-end tests: the registry (`greenlang-registry serve`),
the example agent, OPA polling the registry's bundle, and `greenlang-sidecar`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jwt

from tests.bundles.opa import OpaProcess
from tests.support.servers import ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
AGENT_SCRIPT = ROOT / "examples" / "cbam_agent" / "agent.py"
JWT_SECRET = b"e2e-shared-secret-" + b"x" * 32
# a CBAM calculation whose declarant has an e-mail address and an IBAN (both masked)
CALC = {
    "goods": [{"cn_code": "72081000", "quantity_tonnes": 12.5, "country_of_origin": "CN"}],
    "declarant": {"name": "Acme", "email": "ops@acme.example", "iban": "DE89370400440532013000"},
}


def python_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GREENLANG_", "OTEL_"))}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def registry_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`greenlang-registry ARGS` as a subprocess with `env`."""
    return subprocess.run(
        [sys.executable, "-m", "registry.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


class RegistryProcess(ServerProcess):
    name = "registry"
    health_path = "/healthz"

    def __init__(self, workdir: Path, database_url: str) -> None:
        super().__init__(workdir, timeout=60)
        self.database_url = database_url

    def command(self) -> list[str]:
        return [sys.executable, "-m", "registry.cli.main", "serve", "--port", str(self.port)]

    def verification_key(self) -> Path:
        """The public key the registry signs its bundles with, as a file (--verification-key)."""
        return verification_key(self, self.workdir)

    def environment(self) -> dict[str, str]:
        return python_env(
            GREENLANG_DATABASE_URL=self.database_url,
            GREENLANG_DATA_DIR=str(self.workdir / "data"),
        )

    def token(self, role: str, team: str | None = None, name: str | None = None) -> str:
        args = ["token", "create", "--role", role, *(["--team", team] if team else [])]
        args += ["--name", name] if name else []
        done = subprocess.run(
            [sys.executable, "-m", "registry.cli.main", *args],
            capture_output=True,
            text=True,
            env=self.environment(),
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]


class AgentProcess(ServerProcess):
    name = "agent"
    health_path = "/healthz"

    def command(self) -> list[str]:
        return [sys.executable, str(AGENT_SCRIPT), "--port", str(self.port)]


class AgentHostProcess(ServerProcess):
    """`greenlang-agent-host` serving one artifact's run(inputs) (agent_sdk/host.py)."""

    name = "agent-host"
    health_path = "/healthz"

    def __init__(self, workdir: Path, artifact: Path, **env: str) -> None:
        super().__init__(workdir, timeout=60)
        self.artifact = artifact
        self.env = env  # e.g. OTEL_EXPORTER_OTLP_ENDPOINT, GREENLANG_AGENT_ID

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "agent_sdk.host",
            "--artifact",
            str(self.artifact),
            "--port",
            str(self.port),
        ]

    def environment(self) -> dict[str, str]:
        return python_env(**self.env)


class SidecarProcess(ServerProcess):
    """`greenlang-sidecar`; `self.port` is its admin listener (ready at /readyz)."""

    name = "sidecar"
    health_path = "/readyz"

    def __init__(self, workdir: Path, args: list[str], token: str | None = None) -> None:
        super().__init__(workdir, timeout=60)
        self.listen_port = free_port()
        self.proxy_url = f"http://127.0.0.1:{self.listen_port}"
        self.args = args
        self.token = token
        secret = workdir / "jwt.secret"
        workdir.mkdir(parents=True, exist_ok=True)
        secret.write_bytes(JWT_SECRET)
        self.secret_file = secret

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "sidecar.cli",
            "--listen",
            f"127.0.0.1:{self.listen_port}",
            "--admin-listen",
            f"127.0.0.1:{self.port}",
            "--jwt-secret-file",
            str(self.secret_file),
            "--spool-dir",
            str(self.workdir / "spool"),
            *self.args,
        ]

    def environment(self) -> dict[str, str]:
        return python_env(**({"GREENLANG_TOKEN": self.token} if self.token else {}))


def verification_key(registry: RegistryProcess, workdir: Path) -> Path:
    """The registry's public bundle key (its public route, no token) as a file."""
    path = workdir / "bundle-verification.pem"
    workdir.mkdir(parents=True, exist_ok=True)
    path.write_bytes(httpx.get(registry.url + "/bundle-verification-key").content)
    return path


def opa_polling(
    workdir: Path, registry: RegistryProcess, token: str, via: str | None = None
) -> OpaProcess:
    """A stock OPA that takes the registry's bundle every second (through ``via``, a proxy,
    when given) and verifies its signature with the registry's public key (``keys``, passed with
    --set-file as deploy/compose does); its status metrics are on, as deploy/compose has them."""
    key = verification_key(registry, workdir)
    config = {
        "keys": {"greenlang": {"algorithm": "RS256"}},
        "status": {"prometheus": True},
        "services": {
            "registry": {
                "url": (via or registry.url) + "/api/v1",
                "credentials": {"bearer": {"token": token}},
            }
        },
        "bundles": {
            "greenlang": {
                "service": "registry",
                "resource": "bundles/greenlang",
                "signing": {"keyid": "greenlang"},
                "polling": {"min_delay_seconds": 1, "max_delay_seconds": 1},
            }
        },
    }
    path = workdir / "opa.json"
    workdir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    args = ["--config-file", str(path), "--set-file", f"keys.greenlang.key={key}"]
    return OpaProcess(workdir, args, health_path="/health?bundles")


def caller_token(sub: str = "carla", roles: tuple[str, ...] = ("operator",)) -> str:
    claims = {"sub": sub, "roles": list(roles), "team": "cbam-team", "exp": int(time.time()) + 3600}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


class RegistryClient:
    def __init__(self, url: str, token: str) -> None:
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})

    def register(self, agent_id: str, *, certified: bool) -> None:
        spec = {
            "agent_id": agent_id,
            "name": "CBAM embedded emissions",
            "version": "1.0.0",
            "description": "Embedded emissions of CBAM goods.",
            "type": "calculator",
            "metadata": {"team": "cbam-team", "regulatory_scope": ["CBAM"], "tags": ["cbam"]},
        }
        body: dict[str, Any] = {"spec": spec}
        if certified:
            cert = self.http.post(
                "/api/v1/certificates",
                json={
                    "agent_id": agent_id,
                    "version": "1.0.0",
                    "expires_at": "2099-01-01T00:00:00+00:00",
                    "issuer": "e2e",
                },
            )
            assert cert.status_code == 201, cert.text
            body["certificate_id"] = cert.json()["certificate_id"]
        r = self.http.post("/api/v1/agents", json=body)
        assert r.status_code == 201, r.text

    def retire(self, agent_id: str) -> None:
        r = self.http.delete(f"/api/v1/agents/{agent_id}")
        assert r.status_code in (200, 204), r.text

    def sidecar_events(self, agent_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        after = 0
        while True:
            params = {"action": "sidecar.invoke", "agent_id": agent_id, "limit": 1000}
            r = self.http.get("/api/v1/audit", params={**params, "after_seq": after})
            assert r.status_code == 200, r.text
            page = r.json()
            events += page["events"]
            if page["next_after_seq"] is None:
                return events
            after = page["next_after_seq"]
