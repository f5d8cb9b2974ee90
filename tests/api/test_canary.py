"""Canary releases through the API and the canary runner, against a real PostgreSQL: the runner
judges intervals from `sidecar.invoke` events posted to the real audit intake (what sidecars
do), with the controller played by recorded observations. Start (pending approval, then
running), route, hold and rollback on failures, 10 -> 25 -> 50 -> promote, no traffic rolls
back, abort, promote by hand, a fresh runner resumes, refusals change nothing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from registry.canary.runner import CanaryMetrics, CanaryRunner
from registry.lifecycle.models import DeploymentStatus, Instance, Observation
from tests.api.conftest import Api
from tests.api.lifecycle_support import (
    AGENT,
    AGENT_ID,
    approve,
    audit,
    certify,
    deployed,
    get,
    manager,
    register,
    with_stock_policies,
)

STABLE, CANARY = "1.0.0", "1.1.0"
FAST = {"interval_s": 1, "min_requests": 10, "threshold": 2, "inconclusive_budget": 2}


@pytest.fixture
async def gov(api: Api) -> Api:
    await with_stock_policies(api)
    manager(api).drain_s = 0.0
    return api


def runner(api: Api, registry: CollectorRegistry | None = None) -> CanaryRunner:
    """A fresh runner each time: everything it needs is in the database."""
    metrics = CanaryMetrics(registry or CollectorRegistry())
    return CanaryRunner(manager(api), settle_s=0.0, metrics=metrics)


async def ready(api: Api, deployment_id: str, port: int) -> None:
    url = f"http://127.0.0.1:{port}"
    seen = Observation(
        status=DeploymentStatus.READY,
        instances=[Instance(name=f"{deployment_id}-0", ready=True, endpoint=url)],
        endpoint=url,
        message="",
    )
    await api.service.store.deployments.record_observation(deployment_id, seen, datetime.now(UTC))


async def post(api: Api, path: str, body: Any = None, who: str = "publisher") -> tuple[int, Any]:
    r = await api.call("POST", path, who, json=body)
    return r.status, await r.json(content_type=None)


async def stable_running(api: Api) -> dict[str, Any]:
    await register(api, STABLE)
    await register(api, CANARY)
    dep = await deployed(api, STABLE)
    await ready(api, dep["deployment_id"], 18001)
    return dep


async def start(api: Api, **settings: Any) -> dict[str, Any]:
    """Certified canary, started (denied: approval), approved, its deployment ready, running."""
    await certify(api, CANARY)
    status, problem = await post(api, f"{AGENT}/canary", {"version": CANARY} | FAST | settings)
    assert status == 403, problem
    assert [v["policy_id"] for v in problem["violations"]] == ["deployment-approval"]
    dep, canary_id = problem["deployment_id"], problem["canary_id"]
    doc = await get(api, f"{AGENT}/canary")
    assert (doc["canary_id"], doc["status"]) == (canary_id, "starting")
    status, approved = await approve(api, dep)
    assert status == 200 and approved["status"] == "progressing", approved
    assert approved["track"] == "canary"
    assert (await get(api, AGENT))["current_version"] == STABLE  # a canary does not serve
    await runner(api).tick()
    assert (await get(api, f"{AGENT}/canary"))["status"] == "starting"  # not ready yet
    await ready(api, dep, 18002)
    await runner(api).tick()
    doc = await get(api, f"{AGENT}/canary")
    assert doc["status"] == "running" and doc["interval_started_at"], doc
    return dict(doc)


def event(version: str, at: datetime, status: int = 200, decision: str = "allow") -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "time": at.isoformat(),
        "sidecar": "sc-1",
        "request_id": f"req-{uuid.uuid4().hex[:8]}",
        "trace_id": None,
        "user_id": "carla",
        "agent_id": AGENT_ID,
        "version": version,
        "action": "invoke",
        "method": "POST",
        "path": "/v1/run",
        "environment": "production",
        "decision": decision,
        "violations": [],
        "warnings": [],
        "status": status,
        "latency_ms": 20.0,
        "tokens": None,
    }


async def interval(
    api: Api, calls: int, errors: int = 0, stable_calls: int = 20, **runner_kw: Any
) -> dict[str, Any]:
    """Report one interval's calls (as sidecars do), let it end, run the runner once."""
    doc = await get(api, f"{AGENT}/canary")
    started = datetime.fromisoformat(doc["interval_started_at"])
    inside = started + timedelta(seconds=doc["settings"]["interval_s"] / 2)
    events = [event(CANARY, inside, 500 if i < errors else 200) for i in range(calls)]
    events += [event(STABLE, inside) for _ in range(stable_calls)]
    if events:
        r = await api.call("POST", "/api/v1/audit", "service", json={"events": events})
        assert r.status == 200, await r.text()
    end = started + timedelta(seconds=doc["settings"]["interval_s"])
    await asyncio.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 0.05)
    await runner(api, **runner_kw).tick()
    return dict(await get(api, f"{AGENT}/canary"))


async def route(api: Api) -> dict[str, Any]:
    return dict(await get(api, f"{AGENT}/route", "service"))


async def test_a_failing_canary_holds_then_rolls_back(gov: Api) -> None:
    stable = await stable_running(gov)
    doc = await start(gov)
    r = await route(gov)
    assert r["stable"]["version"] == STABLE and r["stable"]["endpoints"] == [
        "http://127.0.0.1:18001"
    ]
    assert r["canary"] == {
        "version": CANARY,
        "deployment_id": doc["canary_deployment_id"],
        "endpoints": ["http://127.0.0.1:18002"],
        "weight": 10,
    }
    deps = await get(gov, f"/api/v1/deployments?agent_id={AGENT_ID}")
    assert {d["version"]: d["traffic_weight"] for d in deps} == {STABLE: 90, CANARY: 10}

    held = await interval(gov, calls=20, errors=6)
    [first] = held["intervals"]
    assert (first["action"], first["failed"], first["calls"], first["errors_5xx"]) == (
        "hold",
        ["success_rate"],
        20,
        6,
    )
    assert first["success_rate"] == 70.0 and first["stable_calls"] == 20
    assert (held["status"], held["weight"], held["failed_checks"]) == ("running", 10, 1)

    metrics = CollectorRegistry()
    back = await interval(gov, calls=20, errors=6, registry=metrics)
    assert (back["status"], back["weight"], back["failed_checks"]) == ("rolling_back", 0, 2), back
    assert "failed check 2 of 2: rollback" in back["reason"]
    assert (await route(gov))["canary"] is None
    labels = {"agent_id": AGENT_ID, "environment": "production", "version": CANARY}
    assert metrics.get_sample_value("greenlang_canary_rollbacks_total", labels) == 1.0

    await runner(gov).tick()  # drain (0 s here) over: the canary deployment stops
    done = await get(gov, f"{AGENT}/canary")
    assert done["status"] == "rolled_back" and done["finished_at"], done
    canary_dep = await get(gov, f"/api/v1/deployments/{doc['canary_deployment_id']}")
    assert canary_dep["desired"] == "stopped"
    still = await get(gov, f"/api/v1/deployments/{stable['deployment_id']}")
    assert still["desired"] == "running" and still["traffic_weight"] == 100
    assert (await get(gov, AGENT))["current_version"] == STABLE
    assert [e["after"]["action"] for e in await audit(gov, "canary.hold")] == ["hold"]
    [rolled] = await audit(gov, "canary.rollback")
    assert rolled["actor"].startswith("canary-runner") and rolled["after"]["calls"] == 20


async def test_a_healthy_canary_advances_and_is_promoted(gov: Api) -> None:
    stable = await stable_running(gov)
    await start(gov)
    seen = []
    for _ in range(3):
        doc = await interval(gov, calls=30)
        seen.append((doc["intervals"][-1]["weight"], doc["intervals"][-1]["action"]))
    assert seen == [(10, "advance"), (25, "advance"), (50, "promote")]
    assert doc["status"] == "promoting"
    entry = await get(gov, AGENT)
    assert entry["current_version"] == CANARY
    assert {v["version"]: v["status"] for v in entry["versions"]}[CANARY] == "active"
    r = await route(gov)
    assert (r["stable"]["version"], r["canary"]) == (CANARY, None)
    await runner(gov).tick()
    assert (await get(gov, f"{AGENT}/canary"))["status"] == "promoted"
    old = await get(gov, f"/api/v1/deployments/{stable['deployment_id']}")
    assert old["desired"] == "stopped" and "replaced by canary" in old["stop_reason"]
    new = await get(gov, f"/api/v1/deployments/{doc['canary_deployment_id']}")
    assert (new["track"], new["traffic_weight"], new["desired"]) == ("stable", 100, "running")
    actions = [e["action"] for e in (await get(gov, "/api/v1/audit?limit=200", "admin"))["events"]]
    assert actions.count("canary.advance") == 3  # traffic start + two steps
    assert "canary.promote" in actions and "agent.serve" in actions


async def test_no_traffic_never_advances_and_ends_in_rollback(gov: Api) -> None:
    await stable_running(gov)
    await start(gov)
    doc = await interval(gov, calls=3)  # fewer than min_requests 10
    assert (doc["status"], doc["step"], doc["weight"], doc["inconclusive_count"]) == (
        "running",
        0,
        10,
        1,
    )
    assert doc["intervals"][-1]["action"] == "inconclusive"
    doc = await interval(gov, calls=0)
    assert doc["status"] == "rolling_back"
    assert "inconclusive budget exhausted" in doc["reason"]


async def test_abort_returns_traffic_at_once_and_is_idempotent(gov: Api) -> None:
    await stable_running(gov)
    await start(gov)
    status, doc = await post(gov, f"{AGENT}/canary/abort", {"reason": "wrong build"})
    assert status == 200 and doc["status"] == "rolling_back", doc
    assert doc["reason"] == "aborted by publisher: wrong build"
    assert (await route(gov))["canary"] is None
    status, again = await post(gov, f"{AGENT}/canary/abort")
    assert status == 200 and again["status"] == "rolling_back"
    status, problem = await post(gov, f"{AGENT}/canary/promote")
    assert status == 409, problem
    [aborted] = await audit(gov, "canary.abort")
    assert aborted["actor"].startswith("publisher")


async def test_promote_by_hand_skips_the_steps(gov: Api) -> None:
    await stable_running(gov)
    await start(gov)
    status, doc = await post(gov, f"{AGENT}/canary/promote")
    assert status == 200 and (doc["status"], doc["weight"]) == ("promoting", 100), doc
    assert (await get(gov, AGENT))["current_version"] == CANARY
    status, problem = await post(gov, f"{AGENT}/canary/abort")
    assert status == 409 and "rollback" in problem["detail"]


async def test_refusals_change_nothing(gov: Api) -> None:
    await register(gov, STABLE)
    await register(gov, CANARY)
    status, problem = await post(gov, f"{AGENT}/canary", {"version": CANARY})
    assert status == 409 and "no ready deployment" in problem["detail"], problem
    dep = await deployed(gov, STABLE)
    await ready(gov, dep["deployment_id"], 18001)
    before = await gov.pool.fetchval("SELECT count(*) FROM audit_events")
    for body, want in [
        ({"version": CANARY, "step_weights": [50, 25]}, 422),
        ({"version": CANARY, "step_weights": []}, 422),
        ({"version": CANARY, "interval_s": 0}, 422),
        ({"version": CANARY, "min_success_rate": 101}, 422),
        ({"version": CANARY, "colour": "blue"}, 422),
        ({"version": "9.9.9"}, 404),
        ({"version": STABLE}, 409),
    ]:
        status, problem = await post(gov, f"{AGENT}/canary", body)
        assert status == want, (body, problem)
        assert problem["type"].startswith("https://"), problem
    status, _ = await post(gov, f"{AGENT}/canary", {"version": CANARY}, who="viewer")
    assert status == 403
    status, _ = await post(gov, f"{AGENT}/canary", {"version": CANARY}, who="other_publisher")
    assert status == 403
    assert await gov.pool.fetchval("SELECT count(*) FROM audit_events") == before
    assert await gov.pool.fetchval("SELECT count(*) FROM canaries") == 0
    r = await gov.call("GET", f"{AGENT}/canary", "viewer")
    assert r.status == 404
    r = await gov.call("GET", f"{AGENT}/route?environment=Bad!", "viewer")
    assert r.status == 422


async def test_no_promote_or_rollback_while_a_canary_runs(gov: Api) -> None:
    await stable_running(gov)
    await start(gov)
    status, problem = await post(gov, f"{AGENT}/deploy", {"version": CANARY})
    assert status == 409 and "promote or abort it first" in problem["detail"], problem
    body = {"to": STABLE, "reason": "x"}
    status, problem = await post(gov, f"{AGENT}/rollback", body)
    assert status == 409, problem


async def test_a_stopped_canary_deployment_rolls_the_canary_back(gov: Api) -> None:
    await stable_running(gov)
    doc = await start(gov)
    r = await gov.call("DELETE", f"/api/v1/deployments/{doc['canary_deployment_id']}", "publisher")
    assert r.status == 200
    await runner(gov).tick()
    after = await get(gov, f"{AGENT}/canary")
    assert after["status"] == "rolling_back" and "was stopped" in after["reason"], after


async def test_the_cli_shows_intervals_and_refuses_bad_input(gov: Api) -> None:
    from tests.api.test_lifecycle_cli import lifecycle

    await stable_running(gov)
    await start(gov)
    await interval(gov, calls=20, errors=6)
    code, out, err = await lifecycle(gov, "canary", "status", AGENT_ID)
    assert code == 0, err
    assert "running, weight 10%" in out and "failed checks 1/2" in out, out
    header, _, row = out.splitlines()[1:4]
    assert header.split()[:4] == ["#", "WEIGHT", "CALLS", "SUCCESS"]
    assert row.split()[:5] == ["1", "10%", "20", "70.00%", "20.00"], row
    for args in (
        ("canary", "start", AGENT_ID, CANARY, "--interval", "soon"),
        ("canary", "start", AGENT_ID, CANARY, "--step-weights", "10,x"),
        ("canary", "start", AGENT_ID, CANARY, "--step-weights", "50,10"),
    ):
        code, out, err = await lifecycle(gov, *args)
        assert code == 2 and err.count("\n") == 1, (args, out, err)
    code, out, err = await lifecycle(gov, "canary", "abort", AGENT_ID, "--json")
    assert code == 0 and '"rolling_back"' in out, err
