"""Token budgets through a real sidecar (in-process counter) in front of the example agent: the
call that crosses the budget completes, the next is refused 429 with Retry-After; callers
without a budget cost no count."""

from __future__ import annotations

import json
from typing import Any

from tests.sidecar import test_enforcer as base
from tests.sidecar.test_enforcer import AGENT, CALC_BODY, MakeSidecar, token

agent_url, make_sidecar = base.agent_url, base.make_sidecar  # the fixtures

BUDGET = {"greenlang/token_budgets": {"agents": {AGENT: 250}}}
ECHO = {"data": b"x" * 400, "headers": {"Content-Type": "application/octet-stream"}}  # 100


async def test_crossing_call_completes_and_the_next_is_refused(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar(data=BUDGET)
    statuses, warned = [], []
    for _ in range(4):
        resp, _ = await h.call("POST", "/v1/echo", **ECHO)
        statuses.append(resp.status)
        warned.append(
            any("token-budget" in w for w in resp.headers.getall("X-Governance-Warning", []))
        )
    # used before each call: 0, 100, 200 (>= 80% of 250: warned), 300 (crossed by call 3)
    assert statuses == [200, 200, 200, 429]
    assert warned[:3] == [False, False, True]
    resp, body = await h.call("POST", "/v1/echo", **ECHO)
    assert resp.status == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    problem = json.loads(body)
    assert problem["detail"].startswith("Token budget used up")
    assert {v["policy_id"] for v in problem["violations"]} == {"token-budget"}
    other, _ = await h.call("POST", "/v1/echo", auth=token(sub="olga"), **ECHO)
    assert other.status == 200  # the budget is per caller
    refused = [e for e in h.sink.events if e["status"] == 429]
    assert refused[0]["input"]["pre"]["tokens"] == {"used": 300, "window_s": 60}


async def test_json_usage_counts_too(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar(data={"greenlang/token_budgets": {"default": 1}})
    first, _ = await h.call("POST", "/v1/calculate", json=CALC_BODY)
    assert first.status == 200
    used = h.sink.events[0]["tokens"]["total"]
    assert used > 0
    second, _ = await h.call("POST", "/v1/calculate", json=CALC_BODY)
    assert second.status == 429
    assert h.sink.events[1]["input"]["pre"]["tokens"]["used"] == used


async def test_no_budget_counts_nothing(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar()  # the stock data: no budgets
    for _ in range(3):
        resp, _ = await h.call("POST", "/v1/echo", **ECHO)
        assert resp.status == 200
    assert len(h.sidecar.enforcer.tokens) == 0  # type: ignore[arg-type]
    assert all("tokens" not in e["input"]["pre"] for e in h.sink.events)


async def test_only_callers_a_budget_applies_to_are_counted(make_sidecar: MakeSidecar) -> None:
    data: dict[str, Any] = {"greenlang/token_budgets": {"roles": {"auditor": 150}}}
    h = await make_sidecar(data=data)
    auditor = token(sub="aude", roles=("auditor",))
    for _ in range(2):
        await h.call("POST", "/v1/echo", **ECHO)  # an operator: no budget
    assert len(h.sidecar.enforcer.tokens) == 0  # type: ignore[arg-type]
    statuses = [
        (await h.call("POST", "/v1/echo", auth=auditor, **ECHO))[0].status for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
