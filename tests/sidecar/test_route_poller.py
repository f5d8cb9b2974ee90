"""The route poller against a real HTTP stand-in: the last good route survives bad answers, and
the state file is written on change and read back (a bad one is ignored)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web

from sidecar.metrics import SidecarMetrics
from sidecar.route_poller import STATE_FILE, RoutePoller
from tests.sidecar.test_enforcer import serving
from tests.support.polling import wait_until

T = TypeVar("T")

GOOD: dict[str, Any] = {
    "agent_id": "gl-a",
    "environment": "staging",
    "stable": {"version": "1.0.0", "deployment_id": "d1", "endpoints": ["http://h:1"]},
    "canary": None,
}


@dataclass
class Answer:
    status: int = 200
    body: bytes = json.dumps(GOOD).encode()
    seen: list[tuple[str | None, str | None]] | None = None


@pytest.fixture
async def registry() -> AsyncIterator[tuple[str, Answer]]:
    answer = Answer(seen=[])

    async def route(request: web.Request) -> web.Response:
        assert answer.seen is not None
        answer.seen.append((request.headers.get("Authorization"), request.query.get("environment")))
        return web.Response(status=answer.status, body=answer.body)

    app = web.Application()
    app.router.add_get("/api/v1/agents/gl-a/route", route)
    async with serving(app) as url:
        yield url, answer


async def _now(value: T) -> T:
    return value


def poller(url: str, state: Path | None, metrics: SidecarMetrics) -> RoutePoller:
    return RoutePoller(
        url, "gl-a", "staging", token="t0k", interval_s=3600, metrics=metrics, state_file=state
    )


async def test_bad_answers_keep_the_last_good_route(
    registry: tuple[str, Answer], tmp_path: Path
) -> None:
    url, answer = registry
    metrics = SidecarMetrics()
    p = poller(url, tmp_path / STATE_FILE, metrics)
    await p.start()
    try:
        # The first poll runs at start, in the background; the next one is an hour away.
        good = await wait_until(lambda: _now(p.route), what="the first poll")
        assert good.stable is not None and good.stable.endpoints == ["http://h:1"]
        assert answer.seen == [("Bearer t0k", "staging")]
        assert await p.poll_once() and p.route is good  # unchanged: the same object
        for status, body in (
            (503, b"{}"),
            (200, b"not json"),
            (200, json.dumps(GOOD | {"agent_id": "gl-other"}).encode()),
            (200, json.dumps(GOOD | {"canary": {"weight": 7}}).encode()),
        ):
            answer.status, answer.body = status, body
            assert not await p.poll_once()
            assert p.route is good
        assert metrics.registry.get_sample_value("sidecar_route_poll_failures_total") == 4
    finally:
        await p.close()
    saved = json.loads((tmp_path / STATE_FILE).read_text())
    assert saved == GOOD


async def test_the_saved_route_is_read_at_start_and_a_bad_one_ignored(tmp_path: Path) -> None:
    down = "http://127.0.0.1:9"  # nothing answers: only the file can give a route
    state = tmp_path / STATE_FILE
    state.write_text(json.dumps(GOOD))
    p = poller(down, state, SidecarMetrics())
    await p.start()
    await p.close()
    assert p.route is not None and p.route.stable is not None
    for bad in ("{", json.dumps(GOOD | {"environment": "production"})):
        state.write_text(bad)
        p = poller(down, state, SidecarMetrics())
        await p.start()
        await p.close()
        assert p.route is None
