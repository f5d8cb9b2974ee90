"""An agent's usage_stats come from the sidecars' audit events, counted in the intake transaction
for the events it stored: a retried batch counts once, concurrent batches lose nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api.conftest import Api, make_spec
from tests.api.test_sidecar_audit import event, post

AGENT = "gl-cbam-calculator"
ZERO = {
    "calls": 0,
    "errors": 0,
    "denied": 0,
    "total_tokens": 0,
    "last_call_at": None,
    "versions": {},
}


async def usage(api: Api, agent_id: str = AGENT) -> dict[str, Any]:
    r = await api.call("GET", f"/api/v1/agents/{agent_id}")
    assert r.status == 200, await r.text()
    stats: dict[str, Any] = (await r.json())["usage_stats"]
    return stats


async def test_a_batch_posted_twice_counts_once(api: Api) -> None:
    assert (await api.register(make_spec())).status == 201
    assert await usage(api) == ZERO
    batch = [
        event(time="2026-11-24T10:00:00+00:00"),
        event(time="2026-11-24T10:00:05+00:00", status=502, tokens=None),
        event(
            time="2026-11-24T09:59:00Z",
            decision="deny",
            status=403,
            violations=[{"policy_id": "rbac-access-control", "message": "no"}],
            tokens={"total": None, "prompt": 7, "completion": 3, "model": None},
        ),
        event(time="2026-11-24T10:01:00+00:00", version=None),
        event(agent_id="not-registered"),
    ]
    for _ in range(2):  # the sidecar retries after a lost answer
        r = await post(api, batch)
        assert r.status == 200, await r.text()
    assert (await r.json())["duplicates"] == len(batch)
    stats = await usage(api)
    assert stats == {
        "calls": 4,
        "errors": 1,  # status >= 500
        "denied": 1,  # decision deny
        "total_tokens": 120 + 10 + 120,  # total; else prompt + completion; none: 0
        "last_call_at": "2026-11-24T10:01:00Z",
        "versions": {
            "1.0.0": {
                "calls": 3,
                "errors": 1,
                "denied": 1,
                "total_tokens": 130,
                "last_call_at": "2026-11-24T10:00:05Z",
            }
        },
    }
    # The same batch with one new event: only that one is added.
    r = await post(
        api, [*batch, event(tokens={"total": 5, "prompt": 1, "completion": 1, "model": None})]
    )
    assert await r.json() == {"stored": 1, "duplicates": len(batch)}
    stats = await usage(api)
    assert (stats["calls"], stats["total_tokens"]) == (5, 255)
    assert stats["versions"]["1.0.0"]["calls"] == 4


async def test_concurrent_batches_count_every_event_once(api: Api) -> None:
    assert (await api.register(make_spec())).status == 201
    batches = [[event(), event(status=500)] for _ in range(8)]
    shared = event()  # in every batch: stored once, counted once
    results = await asyncio.gather(*(post(api, [*b, shared]) for b in batches))
    assert all(r.status == 200 for r in results)
    stats = await usage(api)
    assert (stats["calls"], stats["errors"], stats["total_tokens"]) == (17, 8, 17 * 120)


async def test_usage_shows_in_search_and_survives_a_failed_batch(api: Api) -> None:
    assert (await api.register(make_spec())).status == 201
    assert (await post(api, [event()])).status == 200
    bad = await post(api, [event(), event(status=99)])  # invalid: nothing stored or counted
    assert bad.status == 400
    assert (await usage(api))["calls"] == 1
    r = await api.call("GET", "/api/v1/agents", params={"query": "cbam"})
    [found] = (await r.json())["agents"]
    assert found["usage_stats"]["calls"] == 1
