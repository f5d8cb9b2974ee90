"""Racing registrations, the audit trail and its hash chain, OpenAPI, health and metrics."""

from __future__ import annotations

import asyncio
import itertools

import aiohttp
import yaml

from registry.audit.chain import verify_chain
from tests.api.conftest import Api, make_spec
from tests.api.test_lifecycle_api import certify


def form(spec: dict, artifact: bytes, certificate_id: str | None = None) -> aiohttp.FormData:
    f = aiohttp.FormData()
    f.add_field("spec", yaml.safe_dump(spec), filename="agent.yaml")
    f.add_field("artifact", artifact, filename="artifact.bin")
    if certificate_id:
        f.add_field("certificate_id", certificate_id)
    return f


async def test_twenty_racing_registrations_one_wins(api: Api) -> None:
    async def one(i: int) -> int:
        r = await api.call(
            "POST", "/api/v1/agents", "publisher", data=form(make_spec(), f"artifact {i}".encode())
        )
        await r.read()
        return r.status

    statuses = await asyncio.gather(*(one(i) for i in range(20)))
    assert sorted(statuses) == [201] + [409] * 19
    counts = await api.counts()
    assert counts["agent_versions"] == 1 and counts["agents"] == 1
    registered = "SELECT count(*) FROM audit_events WHERE action = 'agent.register'"
    assert await api.pool.fetchval(registered) == 1
    # Only the winner's artifact is kept; the losers' blobs were removed.
    assert counts["artifact_files"] == 1


async def test_racing_new_versions_of_one_agent_all_land(api: Api) -> None:
    await api.register(make_spec(version="1.0.0"))
    statuses = await asyncio.gather(
        *(api.register(make_spec(version=f"1.{i}.0")) for i in range(1, 11))
    )
    assert [r.status for r in statuses] == [201] * 10
    r = await api.call("GET", "/api/v1/agents/gl-cbam-calculator/versions")
    assert len(await r.json()) == 11


async def test_refused_registration_keeps_no_artifact(api: Api) -> None:
    await api.register(make_spec())
    r = await api.call(
        "POST",
        "/api/v1/agents",
        "other_publisher",
        data=form(make_spec(version="2.0.0", metadata={"team": "csrd-team"}), b"blob"),
    )
    assert r.status in (403, 409)
    r = await api.call(
        "POST", "/api/v1/agents", data=form(make_spec("gl-other"), b"blob", "CERT-NOPE")
    )
    assert r.status == 422
    assert (await api.counts())["artifact_files"] == 0


async def test_shared_artifact_survives_a_failed_twin(api: Api) -> None:
    assert (await api.call("POST", "/api/v1/agents", data=form(make_spec(), b"same"))).status == 201
    r = await api.call("POST", "/api/v1/agents", data=form(make_spec(), b"same"))
    assert r.status == 409
    r = await api.call(
        "POST", "/api/v1/agents", data=form(make_spec("gl-twin"), b"same", "CERT-NOPE")
    )
    assert r.status == 422
    r = await api.call("GET", "/api/v1/agents/gl-cbam-calculator/versions/1.0.0/artifact")
    assert await r.read() == b"same"


async def test_every_mutation_is_audited_and_chained(api: Api) -> None:
    r = await api.call(
        "POST",
        "/api/v1/agents",
        "publisher",
        json={"spec": make_spec()},
        headers={"X-Request-Id": "req-123"},
    )
    assert r.status == 201 and r.headers["X-Request-Id"] == "req-123"
    await certify(api)
    await api.call(
        "PATCH",
        "/api/v1/agents/gl-cbam-calculator/versions/1.0.0",
        "approver",
        json={"status": "active", "reason": "go live"},
    )
    await api.call("DELETE", "/api/v1/agents/gl-cbam-calculator", "admin")
    r = await api.call("GET", "/api/v1/audit?agent_id=gl-cbam-calculator", "viewer")
    events = (await r.json())["events"]
    assert [e["action"] for e in events] == [
        "agent.register",
        "certificate.issue",
        "version.status",
        "agent.delete",
    ]
    assert events[0]["request_id"] == "req-123"
    assert events[0]["actor"] == "publisher (publisher)"
    assert events[2]["reason"] == "go live"
    assert all(e["prev_hash"] == p["hash"] for p, e in itertools.pairwise(events))
    report = await verify_chain(api.service.store.audit)
    assert report.ok and report.checked == await api.pool.fetchval(
        "SELECT count(*) FROM audit_events"
    )

    r = await api.call("GET", "/api/v1/audit?action=version.status")
    assert len((await r.json())["events"]) == 1
    r = await api.call("GET", "/api/v1/audit?since=2099-01-01T00:00:00Z")
    assert (await r.json())["events"] == []
    r = await api.call("GET", "/api/v1/audit?agent_id=gl-cbam-calculator&limit=2")
    page = await r.json()
    assert len(page["events"]) == 2 and page["next_after_seq"] == page["events"][1]["seq"]
    r = await api.call(
        "GET", f"/api/v1/audit?agent_id=gl-cbam-calculator&after_seq={page['next_after_seq']}"
    )
    assert len((await r.json())["events"]) == 2
    assert (await api.call("GET", "/api/v1/audit?since=yesterday")).status == 422

    await api.pool.execute(
        "UPDATE audit_events SET reason = 'forged' WHERE action = 'version.status'"
    )
    report = await verify_chain(api.service.store.audit)
    assert not report.ok and report.problem == "content does not match hash"
    assert report.broken_at_seq == events[2]["seq"]


async def test_deleting_an_audit_event_breaks_the_chain(api: Api) -> None:
    for v in ("1.0.0", "1.1.0", "1.2.0"):
        await api.register(make_spec(version=v))
    await api.pool.execute(
        "DELETE FROM audit_events WHERE seq = (SELECT min(seq) + 1 FROM audit_events)"
    )
    report = await verify_chain(api.service.store.audit)
    assert not report.ok and report.problem == "previous-hash link broken"


async def test_openapi_health_and_metrics(api: Api) -> None:
    r = await api.client.get("/openapi.json")
    doc = await r.json()
    assert doc["openapi"].startswith("3.1")
    assert {"RegistryEntry", "AgentVersion", "SearchResult", "AgentSpec"} <= set(
        doc["components"]["schemas"]
    )
    assert "patch" in doc["paths"]["/api/v1/agents/{agent_id}/versions/{version}"]
    assert (await (await api.client.get("/healthz")).json()) == {"status": "ok"}
    await api.call("GET", "/api/v1/agents/missing-agent")
    text = await (await api.client.get("/metrics")).text()
    line = next(
        x
        for x in text.splitlines()
        if x.startswith("registry_http_requests_total{")
        and 'status="404"' in x
        and "{agent_id}" in x
    )
    assert line.endswith(" 1.0")
    assert "registry_http_request_duration_seconds_bucket" in text
