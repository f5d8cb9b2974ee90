"""Three `greenlang-sidecar` processes of one agent share a real redis-server as their rate
store: a caller's limit holds across them exactly, a store outage refuses calls (503, fail
closed) or counts in process (--rate-store-fail-open), and a restarted store is used again
without restarting a sidecar."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.stack import AgentProcess, SidecarProcess, caller_token
from tests.support import replicas
from tests.support.redis_server import RedisServer
from tests.support.replicas import active_bundle, metric

AGENT = "gl-cbam-replicated"
LIMIT = 10


def get(sidecar: SidecarProcess, sub: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {caller_token(sub)}"}
    return httpx.get(sidecar.proxy_url + "/v1/factors", headers=headers, timeout=30)


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return active_bundle(tmp_path, AGENT, {"greenlang/rate_limits": {"agents": {AGENT: LIMIT}}})


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[AgentProcess]:
    with AgentProcess(tmp_path / "agent") as process:
        yield process


def replica(
    tmp_path: Path, name: str, agent: AgentProcess, bundle: Path, *extra: str
) -> SidecarProcess:
    return replicas.replica(tmp_path, name, AGENT, agent, bundle, *extra)


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
