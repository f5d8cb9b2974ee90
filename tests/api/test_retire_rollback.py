"""Retire (409 while deployed, or undeploy with it), PATCH to retired under the same rule,
rollback (refusals, replaces the running deployment, moves the serving version, audited),
undeploy, deprecate (stored, in the catalog) and the sunset sweeper."""

from __future__ import annotations

from typing import Any

import pytest

from registry.lifecycle.sweeper import SunsetSweeper
from tests.api.conftest import Api
from tests.api.lifecycle_support import (
    AGENT,
    audit,
    deployed,
    get,
    manager,
    promote,
    register,
    stopped_by_controller,
    with_stock_policies,
)
from tests.support.polling import wait_until

V = f"{AGENT}/versions"
FUTURE = "2099-01-01T00:00:00Z"


@pytest.fixture
async def gov(api: Api) -> Api:
    return await with_stock_policies(api)


async def post(api: Api, path: str, body: Any = None, who: str = "publisher") -> tuple[int, Any]:
    r = await api.call("POST", path, who, json=body)
    return r.status, await r.json(content_type=None)


async def counts(api: Api) -> dict[str, int]:
    tables = ["agent_versions", "deployments", "deployment_approvals", "audit_events"]
    return {t: await api.pool.fetchval(f"SELECT count(*) FROM {t}") for t in tables}


async def test_retire_is_refused_while_deployed(gov: Api) -> None:
    await register(gov)
    dep = await deployed(gov, "1.0.0")
    before, version = await counts(gov), await get(gov, f"{V}/1.0.0")
    status, problem = await post(gov, f"{V}/1.0.0/retire", {"reason": "old"})
    assert status == 409 and problem["deployments"] == [dep["deployment_id"]]
    r = await gov.call("PATCH", f"{V}/1.0.0", "approver", json={"status": "deprecated"})
    assert r.status == 200
    before, version = await counts(gov), await get(gov, f"{V}/1.0.0")
    r = await gov.call("PATCH", f"{V}/1.0.0", "approver", json={"status": "retired"})
    assert r.status == 409 and (await r.json())["deployments"] == [dep["deployment_id"]]
    r = await gov.call("DELETE", AGENT, "approver")
    assert r.status == 409
    assert await counts(gov) == before
    assert await get(gov, f"{V}/1.0.0") == version


async def test_retire_with_undeploy_stops_its_deployments(gov: Api) -> None:
    await register(gov)
    dep = await deployed(gov, "1.0.0")
    status, v = await post(gov, f"{V}/1.0.0/retire", {"reason": "eol", "undeploy": True})
    assert status == 200, v
    assert (v["status"], v["status_reason"]) == ("retired", "eol")
    stopped = await get(gov, f"/api/v1/deployments/{dep['deployment_id']}")
    assert (stopped["desired"], stopped["status"]) == ("stopped", "stopping")
    [event] = await audit(gov, "version.retire")
    assert event["after"]["stopped_deployments"] == [dep["deployment_id"]]
    status, problem = await promote(gov, environment="staging")
    assert status == 409 and "retired" in problem["detail"]  # never deployable again
    status, _ = await post(gov, f"{V}/1.0.0/retire")
    assert status == 409  # already retired


async def test_rollback(gov: Api) -> None:
    await register(gov, "1.0.0")
    await register(gov, "1.1.0")
    await register(gov, "1.2.0")
    old = await deployed(gov, "1.0.0")
    new = await deployed(gov, "1.1.0")
    await stopped_by_controller(gov, old["deployment_id"])  # blue/green finished
    body = {"to": "1.0.0", "reason": "1.1.0 miscalculates"}
    status, problem = await post(gov, f"{AGENT}/rollback", {**body, "to": "1.2.0"})
    assert status == 409 and "draft" in problem["detail"]  # uncertified draft
    status, problem = await post(gov, f"{AGENT}/rollback", {**body, "environment": "staging"})
    assert status == 409 and "no running deployment" in problem["detail"]
    status, problem = await post(gov, f"{AGENT}/rollback", body, who="other_publisher")
    assert status == 403
    status, doc = await post(gov, f"{AGENT}/rollback", body)
    assert status == 201, doc
    assert (doc["version"], doc["replaces"], doc["status"]) == (
        "1.0.0",
        new["deployment_id"],
        "progressing",
    )
    assert (doc["replicas"], doc["deployer"]) == (new["replicas"], new["deployer"])
    assert (await get(gov, AGENT))["current_version"] == "1.0.0"
    [event] = await audit(gov, "deployment.rollback")
    assert event["after"]["from"] == "1.1.0" and event["after"]["to"] == "1.0.0"
    assert event["after"]["reason"] == body["reason"] and event["reason"] == body["reason"]
    assert event["after"]["actor"] == "publisher (publisher)"


async def test_rollback_to_a_retired_version_is_refused(gov: Api) -> None:
    await register(gov, "1.0.0")
    await register(gov, "1.1.0")
    await deployed(gov, "1.0.0")
    await post(gov, f"{V}/1.0.0/retire", {"undeploy": True})
    await deployed(gov, "1.1.0")
    before = await counts(gov)
    status, problem = await post(gov, f"{AGENT}/rollback", {"to": "1.0.0", "reason": "x"})
    assert status == 409 and "retired" in problem["detail"]
    assert await counts(gov) == before
    assert (await get(gov, AGENT))["current_version"] == "1.1.0"


async def test_undeploy(gov: Api) -> None:
    await register(gov)
    dep = (await deployed(gov, "1.0.0"))["deployment_id"]
    path = f"/api/v1/deployments/{dep}"
    assert (await gov.call("DELETE", path, "viewer")).status == 403
    r = await gov.call("DELETE", path + "?reason=done", "publisher")
    assert r.status == 200
    doc = await r.json()
    assert (doc["desired"], doc["status"], doc["stop_reason"]) == ("stopped", "stopping", "done")
    again = await gov.call("DELETE", path, "approver")
    assert again.status == 200 and (await again.json())["stop_reason"] == "done"
    assert len(await audit(gov, "deployment.stop")) == 1
    status, _ = await promote(gov, environment="production")
    assert status == 409  # still stopping: promote again once it stopped


async def test_a_stopped_deployment_of_a_deleted_agent(gov: Api) -> None:
    """Found by schemathesis: undeploy answered 409 'agent was deleted' (undocumented) even to
    a viewer. Now: who may, first; then a stopped deployment is answered as it is."""
    await register(gov)
    dep = (await deployed(gov, "1.0.0"))["deployment_id"]
    await stopped_by_controller(gov, dep)
    assert (await gov.call("DELETE", AGENT, "approver")).status == 200
    path = f"/api/v1/deployments/{dep}"
    before = await counts(gov)
    assert (await gov.call("DELETE", path, "viewer")).status == 403
    r = await gov.call("DELETE", path, "approver")
    assert r.status == 200 and (await r.json())["status"] == "stopped"
    assert await counts(gov) == before


async def test_deprecate(gov: Api) -> None:
    await register(gov)
    await deployed(gov, "1.0.0")
    body = {"sunset": FUTURE, "replacement": "gl-cbam-calculator", "reason": "v2 is out"}
    status, problem = await post(
        gov, f"{V}/1.0.0/deprecate", {**body, "sunset": "2001-01-01T00:00:00Z"}
    )
    assert status == 422 and "future" in problem["detail"]
    status, problem = await post(gov, f"{V}/1.0.0/deprecate", {**body, "replacement": "gl-none"})
    assert status == 422
    status, problem = await post(gov, f"{V}/1.0.0/deprecate", body, who="other_publisher")
    assert status == 403
    status, v = await post(gov, f"{V}/1.0.0/deprecate", body)
    assert status == 200, v
    assert (v["status"], v["replacement_agent_id"]) == ("deprecated", "gl-cbam-calculator")
    assert v["sunset_at"].startswith("2099-01-01") and v["deprecated_at"] is not None
    catalog = await get(gov, "/api/v1/catalog")
    facts = catalog["gl-cbam-calculator"]["versions"]["1.0.0"]
    assert facts["status"] == "DEPRECATED" and facts["replacement"] == "gl-cbam-calculator"
    assert facts["sunset_at"] == 4070908800 * 1_000_000_000
    [event] = await audit(gov, "version.deprecate")
    assert event["after"]["sunset_at"].startswith("2099-01-01")
    status, _ = await post(gov, f"{V}/1.0.0/deprecate", {"sunset": FUTURE}, who="viewer")
    assert status == 403


async def test_the_sweeper_retires_past_sunset_and_stops_deployments(gov: Api) -> None:
    await register(gov, "1.0.0")
    await register(gov, "1.1.0")
    dep = await deployed(gov, "1.0.0")
    for version in ("1.0.0", "1.1.0"):
        if version == "1.1.0":
            await deployed(gov, "1.1.0", environment="staging")
        status, _ = await post(gov, f"{V}/{version}/deprecate", {"sunset": FUTURE})
        assert status == 200
    await gov.pool.execute(  # time passes for 1.0.0 only
        "UPDATE agent_versions SET sunset_at = now() - interval '1 minute' WHERE version = '1.0.0'"
    )
    sweeper = SunsetSweeper(manager(gov), interval=0.1)
    sweeper.start()
    try:

        async def retired() -> bool:
            return (await get(gov, f"{V}/1.0.0"))["status"] == "retired"

        await wait_until(retired, limit=30, what="the sweeper to retire 1.0.0")
    finally:
        await sweeper.stop()
    stopped = await get(gov, f"/api/v1/deployments/{dep['deployment_id']}")
    assert stopped["desired"] == "stopped"
    assert (await get(gov, f"{V}/1.1.0"))["status"] == "deprecated"
    [event] = await audit(gov, "version.retire")
    assert event["actor"] == "sunset-sweeper (service)"
    assert "sunset passed" in event["reason"]
    assert await manager(gov).sweep_sunsets() == 0  # nothing more is due
