"""Canary releases as a user runs them (issue 10, Acceptance): a real `greenlang-registry serve`
with the process deployer, agents and sidecars as processes, callers with JWTs of many users
calling the stable deployment's sidecar, and `greenlang-lifecycle canary` as a subprocess.

- a version failing ~30% of calls is rolled back within `threshold` intervals while callers
  served by stable see no error; a healthy one goes 10 -> 25 -> 50 -> promoted;
- at weight 10, 2,000 calls of distinct users land 8-12% on the canary, each user sticks to one
  version; `abort` returns all traffic to stable within a poll; a canary nobody calls is never
  advanced and is rolled back when its inconclusive budget runs out."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.lifecycle_stack import Serve, User, caller_jwt, cleanup
from tests.support.polling import wait_until

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "agents" / "cbam-cn-code-classifier"
AGENT = "cbam-cn-code-classifier"
INPUT = json.loads((EXAMPLE / "input.json").read_text())
STABLE, FLAKY, HEALTHY = "2.0.0", "2.1.0", "2.2.0"
VERSION_HEADER = "X-GreenLang-Version"
# Every tenth call's first three fail: ~30%, the same in every run.
FLAKY_TAIL = b"""

import itertools as _itertools

_calls = _itertools.count()
_healthy_run = run


def run(inputs):
    if next(_calls) % 10 < 3:
        raise RuntimeError("flaky build: this call fails")
    return _healthy_run(inputs)
"""
# A loaded machine may give an interval fewer calls than min-requests: that only holds it.
FAST = (
    "--interval",
    "3s",
    "--min-requests",
    "10",
    "--threshold",
    "2",
    "--inconclusive-budget",
    "20",
)


def register(serve: Serve, token: str) -> None:
    """The example in three certified versions; 2.1.0 fails ~30% of its calls."""
    http = httpx.Client(
        base_url=serve.url + "/api/v1", headers={"Authorization": f"Bearer {token}"}
    )
    spec = yaml.safe_load((EXAMPLE / "agent.yaml").read_text())
    source = (EXAMPLE / "artifact.py").read_bytes()
    for version in (STABLE, FLAKY, HEALTHY):
        artifact = source + FLAKY_TAIL if version == FLAKY else source
        files: dict[str, tuple[str, str | bytes, str]] = {
            "spec": ("agent.yaml", yaml.safe_dump(spec | {"version": version}), "application/yaml"),
            "artifact": ("artifact.py", artifact, "text/x-python"),
        }
        r = http.post("/agents", files=files)
        assert r.status_code == 201, r.text
        cert = {"agent_id": AGENT, "version": version, "expires_at": "2099-01-01T00:00:00Z"}
        r = http.post("/certificates", json=cert | {"issuer": "e2e"})
        assert r.status_code == 201, r.text


@pytest.fixture
def user(database_url: str, tmp_path: Path) -> Iterator[User]:
    serve = Serve(tmp_path / "registry", database_url, "process")
    try:
        serve.start()
        admin = serve.token("admin", name="alice")
        approver = serve.token("approver", name="bob")
        register(serve, admin)
        yield User(serve, admin, approver)
    finally:
        cleanup(serve)


async def approved(user: User, *args: str) -> str:
    """Run a command the deployment policies refuse until approved; approve; the deployment."""
    code, out, err = await user.cli(*args)
    assert code == 3 and "deployment-approval" in err, (code, out, err)
    dep = err.split("greenlang-lifecycle approve ")[1].split()[0]
    await user.ok("approve", dep, who="approver")
    return dep


async def serving(user: User) -> str:
    """Promote 2.0.0 (approved) and return its endpoint."""
    dep = await approved(user, "promote", AGENT, STABLE, "--no-wait")
    doc = await user.wait_status(dep, "ready")
    return str(doc["endpoint"])


async def canary(user: User) -> dict[str, Any]:
    out = await user.ok("canary", "status", AGENT, "--json")
    doc: dict[str, Any] = json.loads(out)
    return doc


async def canary_status(user: User, status: str, limit: float = 240) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        doc = await canary(user)
        return doc if doc["status"] == status else None

    return await wait_until(probe, limit=limit, what=f"canary {status}")


@dataclass
class Traffic:
    """Callers of the stable endpoint: each call by one of `users`, answers by version."""

    endpoint: str
    users: int = 400
    got: Counter[tuple[str, int]] = field(default_factory=Counter)  # (version, status) -> n
    by_user: dict[str, set[str]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, sub: str) -> str:
        if sub not in self.tokens:
            self.tokens[sub] = caller_jwt(sub)
        return self.tokens[sub]

    async def call(self, client: httpx.AsyncClient, sub: str) -> str:
        headers = {"Authorization": f"Bearer {self.token(sub)}"}
        try:
            r = await client.post(f"{self.endpoint}/v1/run", json=INPUT, headers=headers)
        except httpx.TransportError:  # the old stable, stopped after a promotion
            self.got[("unreachable", 0)] += 1
            return "unreachable"
        version = r.headers.get(VERSION_HEADER, "none")
        self.got[(version, r.status_code)] += 1
        self.by_user.setdefault(sub, set()).add(version)
        return version

    async def run(self, stop: asyncio.Event, workers: int = 6) -> None:
        async def worker(n: int) -> None:
            rng = random.Random(n)
            async with httpx.AsyncClient(timeout=30) as client:
                while not stop.is_set():
                    await self.call(client, f"user-{rng.randrange(self.users)}")

        await asyncio.gather(*(worker(n) for n in range(workers)))

    def served(self, version: str) -> Counter[int]:
        return Counter({s: n for (v, s), n in self.got.items() if v == version})


async def test_a_failing_canary_is_rolled_back_and_a_healthy_one_promoted(user: User) -> None:
    traffic = Traffic(await serving(user))
    stop = asyncio.Event()
    load = asyncio.create_task(traffic.run(stop))
    try:
        await approved(user, "canary", "start", AGENT, FLAKY, *FAST)
        rolled = await canary_status(user, "rolled_back")
        verdicts = [(i["action"], i["failed"]) for i in rolled["intervals"]]
        assert verdicts[-1] == ("rollback", ["success_rate"]), rolled["intervals"]
        assert rolled["failed_checks"] == 2 and len(verdicts) <= 2 + rolled["inconclusive_count"]
        assert all(
            i["success_rate"] < 99 for i in rolled["intervals"] if i["action"] != "inconclusive"
        )
        assert traffic.served(FLAKY)[500] > 0  # the canary got calls, and failed some
        stable_answers = traffic.served(STABLE)
        assert set(stable_answers) == {200} and stable_answers[200] > 100, stable_answers
        assert traffic.got[("unreachable", 0)] == 0, traffic.got

        await approved(user, "canary", "start", AGENT, HEALTHY, *FAST, "--step-weights", "10,25,50")
        promoted = await canary_status(user, "promoted")
    finally:
        stop.set()
        await load
    steps = [
        (i["weight"], i["action"]) for i in promoted["intervals"] if i["action"] != "inconclusive"
    ]
    assert steps == [(10, "advance"), (25, "advance"), (50, "promote")], promoted["intervals"]
    assert set(traffic.served(HEALTHY)) == {200}
    deployments = json.loads(await user.ok("deployments", AGENT, "--json"))
    serving_now = next(
        d for d in deployments if d["deployment_id"] == promoted["canary_deployment_id"]
    )
    async with httpx.AsyncClient(timeout=30) as client:
        version = await Traffic(serving_now["endpoint"]).call(client, "after-promotion")
    assert version == HEALTHY
    async with user.api() as http:
        entry = (await http.get(f"/agents/{AGENT}")).json()
    assert entry["current_version"] == HEALTHY


async def test_split_stickiness_abort_and_no_traffic(user: User) -> None:
    traffic = Traffic(await serving(user), users=2000)
    await approved(user, "canary", "start", AGENT, HEALTHY, "--interval", "10m")
    await canary_status(user, "running")

    async def split_applied() -> bool:
        async with httpx.AsyncClient(timeout=30) as client:
            seen = {await traffic.call(client, f"probe-{n}") for n in range(60)}
        return HEALTHY in seen

    await wait_until(split_applied, limit=30, what="the sidecar following the route")
    traffic.got.clear()
    async with httpx.AsyncClient(timeout=30) as client:
        for n in range(2000):
            await traffic.call(client, f"user-{n}")
        share = traffic.served(HEALTHY).total() / 2000
        assert 0.08 <= share <= 0.12, traffic.got
        assert traffic.served(STABLE).total() + traffic.served(HEALTHY).total() == 2000
        for n in range(0, 2000, 97):  # the same user again: the same version
            before = traffic.by_user[f"user-{n}"]
            assert {await traffic.call(client, f"user-{n}")} == before

        await user.ok("canary", "abort", AGENT, "--reason", "e2e abort")

        async def all_stable() -> bool:
            versions = {await traffic.call(client, f"user-{n}") for n in range(100)}
            return versions == {STABLE}

        await wait_until(all_stable, limit=15, what="all calls on stable after abort")
    aborted = await canary_status(user, "rolled_back")
    await user.wait_status(aborted["canary_deployment_id"], "stopped")

    await approved(
        user, "canary", "start", AGENT, HEALTHY, "--interval", "2s", "--inconclusive-budget", "2"
    )
    doc = await canary_status(user, "rolled_back")
    assert [i["action"] for i in doc["intervals"]] == ["inconclusive", "rollback"], doc
    assert doc["step"] == 0 and "inconclusive budget exhausted" in doc["reason"]
    out = await user.ok("canary", "status", AGENT)
    assert "inconclusive" in out and "WEIGHT" in out
