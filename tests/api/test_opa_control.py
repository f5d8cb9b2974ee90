"""OPA's status reports and decision logs, in the formats a stock OPA sends."""

from __future__ import annotations

import gzip
import json

from registry.audit.chain import verify_chain
from registry.control_plane.opa_reports import gzip_json
from tests.api.conftest import Api

REPORT = {
    "labels": {"id": "opa-1", "version": "1.22.2"},
    "bundles": {
        "greenlang": {"name": "greenlang", "active_revision": "abc123", "code": "", "errors": []}
    },
    "plugins": {"bundle": {"state": "OK"}},
}


def decision(i: int, agent: str = "gl-cbam-calculator") -> dict:
    return {
        "labels": {"id": "opa-1", "version": "1.22.2"},
        "decision_id": f"d-{i}",
        "bundles": {"greenlang": {"revision": "abc123"}},
        "path": "greenlang/decision",
        "input": {"action": "invoke", "agent": {"id": agent}},
        "result": {"allow": False, "decision": "deny", "violations": []},
        "timestamp": "2026-11-24T10:00:00.123456Z",
    }


async def test_status_reports_upsert_per_instance(api: Api) -> None:
    r = await api.call("POST", "/api/v1/opa/status", "service", json=REPORT)
    assert r.status == 200, await r.text()
    newer = {**REPORT, "bundles": {"greenlang": {"name": "greenlang", "active_revision": "def456"}}}
    await api.call("POST", "/api/v1/opa/status", "service", json=newer)
    r = await api.call("GET", "/api/v1/opa/instances", "viewer")
    (inst,) = await r.json()
    assert inst["instance_id"] == "opa-1"
    assert inst["bundles"]["greenlang"]["active_revision"] == "def456"


async def test_status_needs_token_and_valid_body(api: Api) -> None:
    assert (await api.client.post("/api/v1/opa/status", json=REPORT)).status == 401
    for bad in (
        {"bundles": {}},
        {"labels": {"id": 5}},
        [1],
        {"labels": {"id": "x"}, "bundles": []},
    ):
        r = await api.call("POST", "/api/v1/opa/status", json=bad)
        assert r.status == 422, bad
    r = await api.call(
        "POST", "/api/v1/opa/status", data=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert r.status == 400  # not JSON at all; 422 is for JSON of the wrong shape
    assert await api.pool.fetchval("SELECT count(*) FROM opa_instances") == 0


async def test_gzip_decision_logs_land_in_audit_once(api: Api) -> None:
    body = gzip_json([decision(1), decision(2)])
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    r = await api.call("POST", "/api/v1/opa/logs", "service", data=body, headers=headers)
    assert r.status == 200, await r.text()
    assert (await r.json())["stored"] == 2
    # OPA retries a batch it is unsure about: nothing is stored twice.
    r = await api.call(
        "POST",
        "/api/v1/opa/logs",
        "service",
        data=gzip_json([decision(2), decision(3)]),
        headers=headers,
    )
    assert (await r.json())["stored"] == 1
    r = await api.call("GET", "/api/v1/audit?action=opa.decision&agent_id=gl-cbam-calculator")
    events = (await r.json())["events"]
    assert [e["request_id"] for e in events] == ["d-1", "d-2", "d-3"]
    assert events[0]["after"]["decision"] == "deny" and events[0]["actor"] == "opa:opa-1"
    assert (await verify_chain(api.service.store.audit)).ok


async def test_gzip_bomb_and_garbage_are_refused(api: Api) -> None:
    bomb = gzip.compress(b"[" + b" " * (40 * 1024 * 1024) + b"]")
    r = await api.call(
        "POST", "/api/v1/opa/logs", data=bomb, headers={"Content-Type": "application/json"}
    )
    assert r.status == 413
    for body in (b"\x1f\x8bnot gzip", json.dumps([{"no": "id"}]).encode(), b"{}"):
        r = await api.call(
            "POST", "/api/v1/opa/logs", data=body, headers={"Content-Type": "application/json"}
        )
        assert r.status == 422, body
    stored = "SELECT count(*) FROM audit_events WHERE action = 'opa.decision'"
    assert await api.pool.fetchval(stored) == 0
