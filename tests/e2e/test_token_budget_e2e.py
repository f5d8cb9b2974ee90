"""Three `greenlang-sidecar` processes of one agent share a real redis-server: a caller's token
budget holds across them (the agent reports X-Tokens-Used; the call that crosses the budget
completes, then every replica refuses with 429 and Retry-After), and a store outage refuses
calls (503, fail closed) until the store is back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.stack import AgentProcess, SidecarProcess, caller_token
from tests.support import replicas
from tests.support.redis_server import RedisServer
from tests.support.replicas import active_bundle, metric

AGENT = "gl-cbam-budgeted"
BUDGET = 1000
PER_CALL = 100  # the example agent's echo: ceil(400 bytes / 4)


def echo(sidecar: SidecarProcess, sub: str) -> httpx.Response:
    headers = {
        "Authorization": f"Bearer {caller_token(sub)}",
        "Content-Type": "application/octet-stream",
    }
    url = sidecar.proxy_url + "/v1/echo"
    return httpx.post(url, content=b"t" * (4 * PER_CALL), headers=headers, timeout=30)


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    budgets = {"greenlang/token_budgets": {"agents": {AGENT: BUDGET}}}
    return active_bundle(tmp_path, AGENT, budgets)


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[AgentProcess]:
    with AgentProcess(tmp_path / "agent") as process:
        yield process


def replica(
    tmp_path: Path, name: str, agent: AgentProcess, bundle: Path, url: str
) -> SidecarProcess:
    return replicas.replica(tmp_path, name, AGENT, agent, bundle, "--rate-store", url)


def test_replicas_hold_one_token_budget_and_fail_closed_without_the_store(
    tmp_path: Path, agent: AgentProcess, bundle: Path
) -> None:
    with (
        RedisServer(tmp_path / "redis") as redis,
        replica(tmp_path, "a", agent, bundle, redis.url) as a,
        replica(tmp_path, "b", agent, bundle, redis.url) as b,
        replica(tmp_path, "c", agent, bundle, redis.url) as c,
    ):
        replicas = [a, b, c]
        served = [echo(replicas[i % 3], "carla") for i in range(BUDGET // PER_CALL)]
        assert [r.status_code for r in served] == [200] * (BUDGET // PER_CALL)
        assert all(r.headers["X-Tokens-Used"] == str(PER_CALL) for r in served)
        for r in replicas:  # the budget is used up: every replica refuses
            refused = echo(r, "carla")
            assert refused.status_code == 429
            assert refused.headers["Content-Type"].startswith("application/problem+json")
            assert 1 <= int(refused.headers["Retry-After"]) <= 61
            assert [v["policy_id"] for v in refused.json()["violations"]] == ["token-budget"]
        assert [echo(r, "olga").status_code for r in replicas] == [200] * 3  # per caller

        redis.stop()
        for r in replicas:
            down = echo(r, "olga")
            assert down.status_code == 503
            assert down.headers["Content-Type"].startswith("application/problem+json")
            assert metric(r, "sidecar_rate_store_up") == 0

        redis.start()  # same port, empty: the sidecars reconnect, the window starts afresh
        assert [echo(r, "carla").status_code for r in replicas] == [200] * 3
        assert all(metric(r, "sidecar_rate_store_up") == 1 for r in replicas)
