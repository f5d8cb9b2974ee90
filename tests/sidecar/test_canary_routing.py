"""Canary routing with real sidecars in process: a stable (1.0.0) and a canary (2.0.0) sidecar
in front of the example agent, the route served by a stand-in for the registry's route
endpoint. Which version served a call is read from X-GreenLang-Version."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from examples.cbam_agent.agent import create_app as create_agent_app
from kernel.route import Route
from sidecar.app import Listen, Sidecar
from sidecar.auth import SecretAuthenticator
from sidecar.call import Target
from sidecar.policy_source import FileBundleSource
from sidecar.route_poller import STATE_FILE
from sidecar.router import ROUTED_HEADER, VERSION_HEADER
from sidecar.traffic_split import bucket
from tests.sidecar.test_enforcer import (
    AGENT,
    FAR,
    TRACEPARENT,
    ListSink,
    sample,
    serving,
    token,
    write_bundle,
)
from tests.support.polling import wait_until
from tests.support.servers import free_port

SERVICE_TOKEN = "service-token"
STABLE, CANARY, OLD = "1.0.0", "2.0.0", "0.9.0"
PATH = "/v1/factors"


def catalog() -> dict[str, Any]:
    facts = {"status": "ACTIVE", "certificate_id": "c", "certificate_expires_at": FAR}
    versions = {v: dict(facts) for v in (OLD, STABLE, CANARY)}
    return {AGENT: {"owner_team": "cbam", "current_version": STABLE, "versions": versions}}


@dataclass
class RouteHost:
    """Stands in for GET /api/v1/agents/{id}/route (the registry's, built separately)."""

    url: str = ""
    route: dict[str, Any] | None = None
    polls: int = 0

    def set(self, stable: list[str], canary: list[str] | None, weight: int = 0) -> None:
        self.route = {
            "agent_id": AGENT,
            "environment": "production",
            "stable": {"version": STABLE, "deployment_id": "dep-s", "endpoints": stable},
            "canary": None
            if canary is None
            else {
                "version": CANARY,
                "deployment_id": "dep-c",
                "endpoints": canary,
                "weight": weight,
            },
        }

    async def serve(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {SERVICE_TOKEN}":
            return web.json_response({"status": 401}, status=401)
        if request.match_info["agent_id"] != AGENT or request.query["environment"] != "production":
            return web.json_response({"status": 404}, status=404)
        self.polls += 1
        if self.route is None:
            return web.json_response({"status": 404}, status=404)
        return web.json_response(self.route)

    async def next_poll_applied(self) -> None:
        """Wait until a poll that began after now has completed."""
        seen = self.polls
        await wait_until(lambda: _true(self.polls >= seen + 2), what="two more polls")


async def _true(value: bool) -> bool:
    return value


@dataclass
class Node:
    sidecar: Sidecar
    sink: ListSink
    url: str

    @property
    def route(self) -> Route | None:
        assert self.sidecar.route_poller is not None
        return self.sidecar.route_poller.route


@dataclass
class Fleet:
    http: aiohttp.ClientSession
    host: RouteHost
    made: list[Node] = field(default_factory=list)

    async def call(
        self, node: Node, sub: str = "carla", headers: dict[str, str] | None = None
    ) -> tuple[int, str | None]:
        """One call through ``node``: its status and the version that served it."""
        sent = {"Authorization": f"Bearer {token(sub=sub)}", **(headers or {})}
        async with self.http.get(node.url + PATH, headers=sent) as resp:
            await resp.read()
            return resp.status, resp.headers.get(VERSION_HEADER)

    async def versions(self, node: Node, subs: list[str]) -> Counter[str | None]:
        gate = asyncio.Semaphore(32)

        async def one(sub: str) -> str | None:
            async with gate:
                status, version = await self.call(node, sub)
            assert status == 200, (sub, status)
            return version

        return Counter(await asyncio.gather(*(one(s) for s in subs)))

    async def metrics(self, node: Node) -> list[tuple[str, dict[str, str], float]]:
        admin = node.sidecar.admin_listen
        async with self.http.get(f"http://127.0.0.1:{admin.port}/metrics") as resp:
            text = await resp.text()
        return [
            (s.name, s.labels, s.value)
            for family in text_string_to_metric_families(text)
            for s in family.samples
        ]


MakeNode = Callable[..., Awaitable[Node]]


@pytest.fixture
async def host() -> AsyncIterator[RouteHost]:
    state = RouteHost()
    app = web.Application()
    app.router.add_get("/api/v1/agents/{agent_id}/route", state.serve)
    async with serving(app) as url:
        state.url = url
        yield state


@pytest.fixture
async def fleet(host: RouteHost, tmp_path: Path) -> AsyncIterator[tuple[Fleet, MakeNode]]:
    bundle = write_bundle(tmp_path, catalog())
    async with serving(create_agent_app()) as agent_url:
        f = Fleet(aiohttp.ClientSession(), host)

        async def make(
            version: str,
            *,
            port: int | None = None,
            registry: str | None = None,
            state_dir: Path | None = None,
        ) -> Node:
            sink = ListSink()
            sidecar = Sidecar(
                target=Target(AGENT, version, "production", f"sidecar-{version}"),
                upstream=agent_url,
                listen=Listen("127.0.0.1", port or free_port()),
                admin_listen=Listen("127.0.0.1", free_port()),
                source=FileBundleSource(bundle),
                authenticator=SecretAuthenticator(b"s" * 48),
                sink=sink,
                registry_url=registry or host.url,
                route_poll_s=0.05,
                registry_token=SERVICE_TOKEN,
                route_state_dir=state_dir,
            )
            await sidecar.start()
            node = Node(sidecar, sink, f"http://127.0.0.1:{sidecar.listen.port}")
            f.made.append(node)
            return node

        yield f, make
        await f.http.close()
        for node in f.made:
            await node.sidecar.stop()


async def pair(fleet: Fleet, make: MakeNode, weight: int) -> tuple[Node, Node]:
    """A stable and a canary sidecar, the route sending ``weight`` percent to the canary."""
    stable, canary = await make(STABLE), await make(CANARY)
    fleet.host.set([stable.url], [canary.url], weight)
    await wait_until(lambda: _true(_weight(stable) == weight), what="the route")
    return stable, canary


def _weight(node: Node) -> int | None:
    route = node.route
    return route.canary.weight if route and route.canary else None


def split_of(subs: list[str], weight: int) -> int:
    return sum(1 for s in subs if bucket(s) < weight)


async def test_weight_10_sends_about_10_percent_to_the_canary(
    fleet: tuple[Fleet, MakeNode],
) -> None:
    f, make = fleet
    stable, canary = await pair(f, make, 10)
    subs = [f"user-{i}" for i in range(2000)]
    seen = await f.versions(stable, subs)
    assert set(seen) == {STABLE, CANARY}
    assert 160 <= seen[CANARY] <= 240  # 8-12 %
    assert seen[CANARY] == split_of(subs, 10)  # exactly the sticky buckets below 10
    # The serving sidecar audits (with its version); the forwarding one only counts.
    assert len(canary.sink.events) == seen[CANARY]
    assert {e["version"] for e in canary.sink.events} == {CANARY}
    assert len(stable.sink.events) == seen[STABLE]
    metrics = await f.metrics(stable)
    name = "sidecar_routed_calls_total"
    assert sample(metrics, name, version=STABLE, to_version=CANARY) == seen[CANARY]
    assert sample(metrics, "sidecar_canary_weight", agent_id=AGENT) == 10


async def test_one_caller_always_gets_the_same_version(fleet: tuple[Fleet, MakeNode]) -> None:
    f, make = fleet
    stable, _ = await pair(f, make, 50)
    for sub, expected in (("ann", bucket("ann") < 50), ("bob", bucket("bob") < 50)):
        got = {(await f.call(stable, sub))[1] for _ in range(15)}
        assert got == {CANARY if expected else STABLE}


async def test_a_weight_change_is_followed_within_one_poll(
    fleet: tuple[Fleet, MakeNode],
) -> None:
    f, make = fleet
    stable, canary = await pair(f, make, 0)
    subs = [f"u{i}" for i in range(40)]
    assert await f.versions(stable, subs) == {STABLE: 40}
    f.host.set([stable.url], [canary.url], 100)
    await f.host.next_poll_applied()
    assert await f.versions(stable, subs) == {CANARY: 40}
    f.host.set([stable.url], [canary.url], 30)
    await f.host.next_poll_applied()
    assert (await f.versions(stable, subs))[CANARY] == split_of(subs, 30)
    f.host.set([stable.url], [canary.url], 0)
    await f.host.next_poll_applied()
    assert await f.versions(stable, subs) == {STABLE: 40}
    metrics = await f.metrics(stable)
    assert sample(metrics, "sidecar_canary_weight", agent_id=AGENT) == 0


async def test_a_dead_canary_leaves_calls_on_stable(fleet: tuple[Fleet, MakeNode]) -> None:
    f, make = fleet
    stable = await make(STABLE)
    f.host.set([stable.url], [f"http://127.0.0.1:{free_port()}"], 100)
    await wait_until(lambda: _true(_weight(stable) == 100), what="the route")
    assert await f.versions(stable, [f"u{i}" for i in range(10)]) == {STABLE: 10}
    assert len(stable.sink.events) == 10
    metrics = await f.metrics(stable)
    assert sample(metrics, "sidecar_route_fallbacks_total", to_version=CANARY) == 10


async def test_a_restart_keeps_the_split_while_the_registry_is_down(
    fleet: tuple[Fleet, MakeNode], tmp_path: Path
) -> None:
    f, make = fleet
    state = tmp_path / "spool"
    canary = await make(CANARY)
    first = await make(STABLE, state_dir=state)
    f.host.set([first.url], [canary.url], 50)
    await wait_until(lambda: _true(_weight(first) == 50), what="the route")
    saved = Route.model_validate_json((state / STATE_FILE).read_bytes())
    assert saved.canary is not None and saved.canary.weight == 50
    await first.sidecar.stop()
    f.made.remove(first)
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens: every poll fails
    again = await make(STABLE, registry=down, state_dir=state)
    assert _weight(again) == 50  # read back at start, before any poll

    async def failed() -> bool:
        return sample(await f.metrics(again), "sidecar_route_poll_failures_total") > 0

    await wait_until(failed, what="a failed poll")
    subs = [f"u{i}" for i in range(60)]
    seen = await f.versions(again, subs)
    assert seen[CANARY] == split_of(subs, 50) > 0


async def test_a_draining_sidecar_forwards_everything_to_stable(
    fleet: tuple[Fleet, MakeNode],
) -> None:
    f, make = fleet
    stable, canary = await pair(f, make, 10)
    old = await make(OLD)
    await wait_until(lambda: _true(_weight(old) == 10), what="the route")
    assert await f.versions(old, [f"u{i}" for i in range(30)]) == {STABLE: 30}
    assert old.sink.events == [] and canary.sink.events == []  # routed once, never twice
    assert len(stable.sink.events) == 30


async def test_a_routed_call_is_never_routed_again(fleet: tuple[Fleet, MakeNode]) -> None:
    f, make = fleet
    stable, canary = await pair(f, make, 100)
    assert await f.call(stable, "ann", {ROUTED_HEADER: OLD}) == (200, STABLE)
    # A route naming the sidecar itself as the canary: it never calls itself.
    f.host.set([stable.url], [stable.url], 100)
    await f.host.next_poll_applied()
    assert await f.call(stable, "ann") == (200, STABLE)
    assert canary.sink.events == [] and len(stable.sink.events) == 2


async def test_only_the_serving_sidecar_audits_a_routed_call(
    fleet: tuple[Fleet, MakeNode],
) -> None:
    f, make = fleet
    stable, canary = await pair(f, make, 100)
    assert await f.call(stable, "ann", {"traceparent": TRACEPARENT}) == (200, CANARY)
    assert stable.sink.events == []
    [event] = canary.sink.events
    assert event["version"] == CANARY and event["user_id"] == "ann"
    assert event["status"] == 200 and event["decision"] == "allow"
    assert event["trace_id"] == TRACEPARENT.split("-")[1]  # one trace across both sidecars


async def test_refusals_carry_the_version_that_answered(fleet: tuple[Fleet, MakeNode]) -> None:
    f, make = fleet
    stable, canary = await pair(f, make, 50)
    headers = {"Authorization": "Bearer not-a-jwt"}
    async with f.http.get(stable.url + PATH, headers=headers) as resp:
        body = json.loads(await resp.read())
        assert resp.status == 401 and resp.headers[VERSION_HEADER] == STABLE
    assert body["type"].endswith("/unauthenticated")
    # At 100 % nothing is split, so nobody is authenticated here: the canary answers 401.
    f.host.set([stable.url], [canary.url], 100)
    await f.host.next_poll_applied()
    async with f.http.get(stable.url + PATH, headers=headers) as resp:
        assert resp.status == 401 and resp.headers[VERSION_HEADER] == CANARY
    assert stable.sink.events[0]["status"] == 401 and canary.sink.events[0]["status"] == 401
