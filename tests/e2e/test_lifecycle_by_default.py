"""Lifecycle state is enforced by default (issue 9): a registry started with plain `serve` (no
`--seed`, no policy posted) already serves the stock policies, so a sidecar in production in
front of a DRAFT, uncertified example agent refuses from its first call, and an agent deleted in
the registry (every version RETIRED) is refused within one bundle poll. Every part is a real
process: registry, agent hosts, sidecars at their default poll interval."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sidecar.cli import build_parser
from tests.e2e.stack import (
    AgentHostProcess,
    RegistryProcess,
    SidecarProcess,
    caller_token,
)
from tests.support.polling import wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "agents"
DRAFT = "cbam-cn-code-classifier"
CERTIFIED = "cbam-default-values-lookup"
# The sidecar's default bundle poll: the issue allows one poll of at most 10 s.
POLL_S = build_parser().parse_args(["--agent-id", "x", "--upstream", "http://a"]).poll_interval


async def register(http: httpx.AsyncClient, agent_id: str, *, certified: bool) -> dict[str, Any]:
    spec = yaml.safe_load((EXAMPLES / agent_id / "agent.yaml").read_text())
    body: dict[str, Any] = {"spec": spec}
    if certified:
        cert = await http.post(
            "/api/v1/certificates",
            json={
                "agent_id": agent_id,
                "version": spec["version"],
                "expires_at": "2099-01-01T00:00:00+00:00",
                "issuer": "e2e",
            },
        )
        assert cert.status_code == 201, cert.text
        body["certificate_id"] = cert.json()["certificate_id"]
    r = await http.post("/api/v1/agents", json=body)
    assert r.status_code == 201, r.text
    entry: dict[str, Any] = r.json()
    return entry


def sidecar(
    workdir: Path, registry: RegistryProcess, token: str, agent_id: str, upstream: str
) -> SidecarProcess:
    args = [
        "--agent-id",
        agent_id,
        "--upstream",
        upstream,
        "--registry",
        registry.url,
        "--environment",
        "production",
        "--verification-key",
        str(registry.verification_key()),
    ]
    return SidecarProcess(workdir / f"sc-{agent_id}", args, token=token)


async def run(sc: SidecarProcess, agent_id: str) -> httpx.Response:
    """POST /v1/run through the sidecar with the example's own input."""
    headers = {"Authorization": f"Bearer {caller_token()}"}
    body = json.loads((EXAMPLES / agent_id / "input.json").read_text())
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(sc.proxy_url + "/v1/run", json=body, headers=headers)


@pytest.fixture
def registry(database_url: str, tmp_path: Path) -> Iterator[RegistryProcess]:
    with RegistryProcess(tmp_path / "registry", database_url) as r:
        yield r


async def test_plain_serve_denies_draft_and_retired_agents(
    registry: RegistryProcess, tmp_path: Path
) -> None:
    assert POLL_S <= 10
    admin = {"Authorization": f"Bearer {registry.token('admin')}"}
    async with httpx.AsyncClient(base_url=registry.url, headers=admin) as http:
        await _scenario(http, registry, tmp_path)


async def _scenario(http: httpx.AsyncClient, registry: RegistryProcess, tmp_path: Path) -> None:
    r = await http.get("/api/v1/policies")
    policies = {p["policy_id"]: p["enabled"] for p in r.json()}
    assert policies.get("compliance-certified-active") is True

    assert (await register(http, DRAFT, certified=False))["status"] == "draft"
    assert (await register(http, CERTIFIED, certified=True))["status"] == "active"
    service = registry.token("service")
    with (
        AgentHostProcess(tmp_path / "host-draft", EXAMPLES / DRAFT / "artifact.py") as host_d,
        AgentHostProcess(tmp_path / "host-cert", EXAMPLES / CERTIFIED / "artifact.py") as host_c,
        sidecar(tmp_path, registry, service, DRAFT, host_d.url) as sc_draft,
        sidecar(tmp_path, registry, service, CERTIFIED, host_c.url) as sc_cert,
    ):
        # DRAFT and uncertified: refused from the first call, naming the policy.
        r = await run(sc_draft, DRAFT)
        assert r.status_code == 403, r.text
        assert "compliance-certified-active" in {v["policy_id"] for v in r.json()["violations"]}

        # ACTIVE and certified: served. Deleted: every version RETIRED, then refused once the
        # sidecar takes the next bundle (the timeout only bounds a hang; no clock is asserted).
        assert (await run(sc_cert, CERTIFIED)).status_code == 200
        deleted_at = time.monotonic()
        r = await http.delete(f"/api/v1/agents/{CERTIFIED}")
        assert r.status_code == 200, r.text
        assert {v["status"] for v in r.json()["versions"]} == {"retired"}
        refused = await wait_until(
            lambda: _refused(sc_cert), limit=60, interval=0.05, what="a refusal after DELETE"
        )
        elapsed = time.monotonic() - deleted_at
        print(f"\nDELETE -> sidecar deny: {elapsed:.2f} s (bundle poll {POLL_S:g} s)")
        assert refused.status_code == 403
        messages = {v["message"] for v in refused.json()["violations"]}
        assert any("RETIRED" in m for m in messages), messages

        # The sidecar's audit events became the agent's usage in the registry.
        async def counted() -> dict[str, Any] | None:
            stats: dict[str, Any] = (await http.get(f"/api/v1/agents/{CERTIFIED}")).json()[
                "usage_stats"
            ]
            return stats if stats["calls"] >= 2 and stats["denied"] >= 1 else None

        stats = await wait_until(counted, limit=60, what="usage from the sidecar's events")
        assert stats["errors"] == 0 and stats["last_call_at"] is not None


async def _refused(sc: SidecarProcess) -> httpx.Response | None:
    r = await run(sc, CERTIFIED)
    return r if r.status_code != 200 else None
