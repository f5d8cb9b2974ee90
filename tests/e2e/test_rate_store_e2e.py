"""Three `greenlang-sidecar` processes of one agent share a real redis-server as their rate
store: a caller's limit holds across them exactly, a store outage refuses calls (503, fail
closed) or counts in process (--rate-store-fail-open), and a restarted store is used again
without restarting a sidecar."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.stack import AgentProcess, SidecarProcess, caller_token
from tests.sidecar.test_enforcer import FAR, write_bundle
from tests.support import bundle_keys
from tests.support.redis_server import RedisServer

AGENT = "gl-cbam-replicated"
LIMIT = 10


def get(sidecar: SidecarProcess, sub: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {caller_token(sub)}"}
    return httpx.get(sidecar.proxy_url + "/v1/factors", headers=headers, timeout=30)


def metric(sidecar: SidecarProcess, name: str, **labels: str) -> float:
    text = httpx.get(sidecar.url + "/metrics", timeout=10).text
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == name and labels.items() <= s.labels.items()
    )


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    entry = {
        "owner_team": "cbam-team",
        "version": "1.0.0",
        "status": "ACTIVE",
        "certificate_id": "cert-1",
        "certificate_expires_at": FAR,
    }
    limits = {"greenlang/rate_limits": {"agents": {AGENT: LIMIT}}}
    return write_bundle(tmp_path, {AGENT: entry}, limits, signing=bundle_keys.signing())


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[AgentProcess]:
    with AgentProcess(tmp_path / "agent") as process:
        yield process


def replica(
    tmp_path: Path, name: str, agent: AgentProcess, bundle: Path, *extra: str
) -> SidecarProcess:
    args = ["--agent-id", AGENT, "--upstream", agent.url, "--bundle", str(bundle), *extra]
    args += ["--verification-key", str(bundle_keys.public_key(tmp_path / name))]
    return SidecarProcess(tmp_path / name, args)


def test_replicas_share_one_limit_and_fail_closed_without_the_store(
    tmp_path: Path, agent: AgentProcess, bundle: Path
) -> None:
    with RedisServer(tmp_path / "redis") as redis:
        store = ("--rate-store", redis.url)
        with (
            replica(tmp_path, "a", agent, bundle, *store) as a,
            replica(tmp_path, "b", agent, bundle, *store) as b,
            replica(tmp_path, "c", agent, bundle, *store) as c,
            replica(tmp_path, "open", agent, bundle, *store, "--rate-store-fail-open") as lax,
        ):
            replicas = [a, b, c]
            statuses = [get(replicas[i % 3], "carla").status_code for i in range(3 * LIMIT)]
            assert statuses.count(200) == LIMIT and statuses.count(429) == 2 * LIMIT
            assert statuses[:LIMIT] == [200] * LIMIT
            assert get(lax, "carla").status_code == 429  # the fail-open replica counts with them
            assert [get(r, "olga").status_code for r in replicas] == [200] * 3

            redis.stop()
            for r in replicas:
                down = get(r, "olga")
                assert down.status_code == 503
                assert down.headers["Content-Type"].startswith("application/problem+json")
                assert "rate cannot be measured" in down.json()["detail"]
                assert metric(r, "agent_errors_total", type="rate_store_unavailable") == 1
                assert metric(r, "sidecar_rate_store_up") == 0
            assert get(lax, "olga").status_code == 200  # counted in process meanwhile

            redis.start()  # same port, empty: the sidecars reconnect by themselves
            assert [get(r, "carla").status_code for r in replicas] == [200] * 3
            assert all(metric(r, "sidecar_rate_store_up") == 1 for r in replicas)
