"""Promotion through the API against the stock deployment policies: allowed, denied (403
policy-denied, nothing else changes), approvals (the requester's own does not count),
idempotent promotes and the deployment reads."""

from __future__ import annotations

import asyncio

import pytest

from tests.api.conftest import Api
from tests.api.lifecycle_support import (
    AGENT,
    AGENT_ID,
    approve,
    audit,
    certify,
    deployed,
    get,
    promote,
    register,
    with_stock_policies,
)


@pytest.fixture
async def gov(api: Api) -> Api:
    return await with_stock_policies(api)


async def test_staging_needs_no_approval(gov: Api) -> None:
    await register(gov)
    status, doc = await promote(gov, environment="staging", replicas=2)
    assert status == 201, doc
    assert (doc["status"], doc["desired"], doc["environment"]) == (
        "progressing",
        "running",
        "staging",
    )
    assert (doc["replicas"], doc["deployer"], doc["requested_by"]) == (2, "process", "publisher")
    assert doc["violations"] == [] and doc["replaces"] is None
    got = await get(gov, f"/api/v1/deployments/{doc['deployment_id']}")
    assert got["deployment_id"] == doc["deployment_id"]
    v = await get(gov, f"{AGENT}/versions/1.0.0")
    assert v["status"] == "draft"  # uncertified: runs in staging, stays a draft
    again_status, again = await promote(gov, environment="staging")
    assert (again_status, again["deployment_id"]) == (200, doc["deployment_id"])
    [event] = await audit(gov, "deployment.create")
    assert event["target"] == doc["deployment_id"] and event["after"]["environment"] == "staging"
    entry = await get(gov, AGENT)
    assert entry["deployment_count"] == 1


async def test_production_without_certificate_or_approval_is_denied(gov: Api) -> None:
    await register(gov)
    before = await get(gov, AGENT)
    status, problem = await promote(gov)
    assert status == 403, problem
    assert problem["type"].endswith("/policy-denied")
    ids = {v["policy_id"] for v in problem["violations"]}
    assert ids == {"deployment-approval", "deployment-production-certified"}
    assert "deployment-approval" in problem["detail"]
    pending = await get(gov, f"/api/v1/deployments/{problem['deployment_id']}")
    assert pending["status"] == "pending"
    assert {v["policy_id"] for v in pending["violations"]} == ids
    after = await get(gov, AGENT)
    assert after["versions"][0]["status"] == "draft"
    assert (after["current_version"], after["status"]) == (before["current_version"], "draft")


async def test_approvals_by_someone_else_start_it_and_activate(gov: Api) -> None:
    await register(gov, "1.0.0")
    await register(gov, "1.1.0")
    await certify(gov, "1.1.0")
    status, problem = await promote(gov, "1.1.0", who="admin")
    assert status == 403
    assert [v["policy_id"] for v in problem["violations"]] == ["deployment-approval"]
    dep = problem["deployment_id"]
    # the requester's own approval is recorded but does not count
    status, own = await approve(gov, dep, "admin")
    assert status == 200 and own["status"] == "pending"
    assert [v["policy_id"] for v in own["violations"]] == ["deployment-approval"]
    assert (await get(gov, AGENT))["current_version"] == "1.0.0"
    status, doc = await approve(gov, dep, "publisher")  # a publisher is no approver
    assert status == 403
    status, doc = await approve(gov, dep, "approver")
    assert status == 200, doc
    assert (doc["status"], doc["violations"]) == ("progressing", [])
    assert [a["approver"] for a in doc["approvals"]] == ["admin", "approver"]
    entry = await get(gov, AGENT)
    assert entry["current_version"] == "1.1.0"
    assert {v["version"]: v["status"] for v in entry["versions"]}["1.1.0"] == "active"
    status, doc = await approve(gov, dep, "approver")
    assert status == 409  # nothing pending any more
    actions = [e["action"] for e in (await get(gov, "/api/v1/audit?limit=100", "admin"))["events"]]
    assert actions[-5:] == [
        "deployment.approve",
        "deployment.approve",
        "deployment.allow",
        "version.status",
        "agent.serve",
    ]


async def test_promote_again_judges_a_pending_one_again(gov: Api) -> None:
    await register(gov)
    status, first = await promote(gov)
    assert status == 403
    await certify(gov)
    status, second = await promote(gov)
    assert status == 403 and second["deployment_id"] == first["deployment_id"]
    assert [v["policy_id"] for v in second["violations"]] == ["deployment-approval"]
    await approve(gov, first["deployment_id"])
    status, third = await promote(gov)
    assert (status, third["deployment_id"], third["status"]) == (
        200,
        first["deployment_id"],
        "progressing",
    )
    listed = await get(gov, f"/api/v1/deployments?agent_id={AGENT_ID}&environment=production")
    assert [d["deployment_id"] for d in listed] == [first["deployment_id"]]


async def test_a_new_version_replaces_the_running_one(gov: Api) -> None:
    await register(gov, "1.0.0")
    await register(gov, "1.1.0")
    old = await deployed(gov, "1.0.0")
    new = await deployed(gov, "1.1.0")
    assert new["replaces"] == old["deployment_id"]
    assert (await get(gov, AGENT))["current_version"] == "1.1.0"


async def test_refusals(gov: Api) -> None:
    await register(gov, "1.0.0", artifact=False)
    status, doc = await promote(gov, environment="staging")
    assert status == 409 and "no artifact" in doc["detail"]
    await register(gov, "1.1.0")
    status, doc = await promote(gov, "1.1.0", who="other_publisher", environment="staging")
    assert status == 403 and doc["type"].endswith("/forbidden")
    status, doc = await promote(gov, "1.1.0", environment="staging", deployer="nomad")
    assert status == 422
    status, doc = await promote(gov, "9.9.9")
    assert status == 404
    status, doc = await promote(gov, "1.1.0", environment="Bad Env")
    assert status == 422
    status, doc = await approve(gov, "dep-000000000000")
    assert status == 404
    assert await gov.pool.fetchval("SELECT count(*) FROM deployments") == 0


async def test_racing_promotes_make_one_deployment(gov: Api) -> None:
    await register(gov)
    results = await asyncio.gather(*(promote(gov, environment="staging") for _ in range(4)))
    assert sorted(status for status, _ in results) == [200, 200, 200, 201]
    assert len({doc["deployment_id"] for _, doc in results}) == 1
    assert await gov.pool.fetchval("SELECT count(*) FROM deployments") == 1


BAD_BODIES = [
    (b"not json", "application/json", 422),
    (b"null", "application/json", 422),
    (b'{"version": "1.0.0", "extra": 1}', "application/json", 422),
    (b'{"version": "1.0.0", "replicas": 0}', "application/json", 422),
    (b'{"version": "1.0.0", "environment": "prod\\u0000"}', "application/json", 422),
    (b'{"version": "1.0.0"}', "text/plain", 415),
    (b"{" * 70_000, "application/json", 413),
]


@pytest.mark.parametrize(("body", "ctype", "status"), BAD_BODIES)
async def test_bad_lifecycle_bodies_are_problems_and_write_nothing(
    gov: Api, body: bytes, ctype: str, status: int
) -> None:
    await register(gov)
    before = await gov.pool.fetchval("SELECT count(*) FROM audit_events")
    for path in (f"{AGENT}/deploy", f"{AGENT}/rollback", f"{AGENT}/versions/1.0.0/deprecate"):
        r = await gov.call("POST", path, "admin", data=body, headers={"Content-Type": ctype})
        assert r.status == status, (path, await r.text())
        assert r.content_type == "application/problem+json"
    r = await gov.call("GET", "/api/v1/deployments?status=nope&limit=x", "viewer")
    assert r.status == 422
    r = await gov.call("GET", "/api/v1/deployments?limit=1&limit=2", "viewer")
    assert r.status == 400
    assert await gov.pool.fetchval("SELECT count(*) FROM deployments") == 0
    assert await gov.pool.fetchval("SELECT count(*) FROM audit_events") == before
