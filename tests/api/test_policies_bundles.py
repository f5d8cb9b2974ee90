"""Policies stored in the registry, the bundle it serves, and a real OPA polling that bundle and
reporting its status back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from bundles.bundle import read_bundle_files
from bundles.layout import STOCK_POLICY_DIR
from bundles.signing import SIGNATURES_FILE, verify_files
from registry.api.bundles import BUNDLE_KEY
from tests.api.conftest import Api, make_spec
from tests.api.test_governance_cli import gov, registry_env
from tests.api.test_lifecycle_api import certify
from tests.bundles.opa import OpaProcess

CERT_POLICY = (STOCK_POLICY_DIR / "certification-required.yaml").read_text()
YAML = {"Content-Type": "application/yaml"}


async def create(api: Api, text: str, who: str = "approver") -> object:
    return await api.call("POST", "/api/v1/policies", who, data=text.encode(), headers=YAML)


async def test_create_enable_disable_with_history_and_audit(api: Api) -> None:
    r = await create(api, CERT_POLICY)
    assert r.status == 201, await r.text()
    body = await r.json()
    assert body["policy_id"] == "pol-001-certification-required" and body["revision"] == 1
    assert (await create(api, CERT_POLICY)).status == 409
    pid = body["policy_id"]
    r = await api.call(
        "POST", f"/api/v1/policies/{pid}/disable", "approver", json={"reason": "noisy"}
    )
    assert r.status == 200 and (await r.json())["enabled"] is False
    assert (await api.call("POST", f"/api/v1/policies/{pid}/disable", "approver")).status == 409
    r = await api.call("POST", f"/api/v1/policies/{pid}/enable", "admin")
    body = await r.json()
    assert body["revision"] == 3
    assert [h["change"] for h in body["history"]] == ["create", "disable", "enable"]
    assert body["history"][1]["reason"] == "noisy"
    r = await api.call("GET", "/api/v1/audit?action=policy.disable")
    assert len((await r.json())["events"]) == 1
    r = await api.call("GET", "/api/v1/policies", "viewer")
    assert [p["policy_id"] for p in await r.json()] == [pid]


async def test_bad_policies_are_refused_and_nothing_stored(api: Api) -> None:
    cases = [
        CERT_POLICY.replace("operator: equals", "operator: resembles"),
        CERT_POLICY.replace("enforcement: deny", "enforcement: maybe"),
        "policy_id: [unclosed",
        CERT_POLICY + "\n---\n" + CERT_POLICY.replace("pol-001", "pol-002"),
        CERT_POLICY.replace("type: compliance", "type: astrology"),
    ]
    for text in cases:
        r = await create(api, text)
        assert r.status == 422, text
        assert r.headers["Content-Type"].startswith("application/problem+json")
    r = await api.call("POST", "/api/v1/policies", "approver", json={"policy": CERT_POLICY})
    assert r.status == 415
    assert (await create(api, CERT_POLICY, "viewer")).status == 403
    assert (await create(api, CERT_POLICY, "publisher")).status == 403
    assert await api.pool.fetchval("SELECT count(*) FROM policies") == 0
    assert (await api.call("GET", "/api/v1/policies/pol-404")).status == 404
    assert (await api.call("POST", "/api/v1/policies/pol-404/enable")).status == 404


async def test_bundle_etag_changes_only_with_content(api: Api) -> None:
    r = await api.call("GET", "/api/v1/bundles/greenlang", "viewer")
    assert r.status == 200 and r.headers["Content-Type"] == "application/gzip"
    etag = r.headers["ETag"]
    r = await api.call(
        "GET", "/api/v1/bundles/greenlang", "viewer", headers={"If-None-Match": etag}
    )
    assert r.status == 304
    await create(api, CERT_POLICY)
    r = await api.call(
        "GET", "/api/v1/bundles/greenlang", "viewer", headers={"If-None-Match": etag}
    )
    assert r.status == 200 and r.headers["ETag"] != etag
    etag2 = r.headers["ETag"]
    await api.register(make_spec())  # the agent catalog is bundle data
    r = await api.call(
        "GET", "/api/v1/bundles/greenlang", "viewer", headers={"If-None-Match": etag2}
    )
    assert r.status == 200 and r.headers["ETag"] not in (etag, etag2)
    assert (await api.call("GET", "/api/v1/bundles/other")).status == 404
    assert (await api.client.get("/api/v1/bundles/greenlang")).status == 401


def opa_config(api: Api, tmp_path: Path) -> Path:
    url = str(api.client.make_url("/api/v1")).rstrip("/")
    auth = {"bearer": {"token": api.tokens["service"]}}
    key = api.client.app[BUNDLE_KEY].public_pem.decode()  # OPA verifies the signed bundles
    config = {
        # Bundles come from /api/v1/bundles/...; status and decision logs go to /api/v1/opa/...
        "keys": {"greenlang": {"algorithm": "RS256", "key": key}},
        "services": {
            "registry": {"url": url, "credentials": auth},
            "registry-opa": {"url": url + "/opa", "credentials": auth},
        },
        "bundles": {
            "greenlang": {
                "service": "registry",
                "resource": "bundles/greenlang",
                "signing": {"keyid": "greenlang"},
                "polling": {"min_delay_seconds": 1, "max_delay_seconds": 1},
            }
        },
        "status": {"service": "registry-opa"},
        "decision_logs": {
            "service": "registry-opa",
            "reporting": {"min_delay_seconds": 1, "max_delay_seconds": 1},
        },
    }
    path = tmp_path / "opa.json"
    path.write_text(json.dumps(config))
    return path


async def wait_until(probe, limit: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + limit
    while asyncio.get_running_loop().time() < deadline:
        if result := await probe():
            return result
        await asyncio.sleep(0.2)
    raise AssertionError("timed out")


async def test_stock_opa_polls_the_registry_and_reports_status(api: Api, tmp_path: Path) -> None:
    await create(api, CERT_POLICY)
    opa = OpaProcess(
        tmp_path, ["--config-file", str(opa_config(api, tmp_path))], health_path="/health"
    )
    await asyncio.to_thread(opa.start)
    try:
        async with httpx.AsyncClient(base_url=opa.url, timeout=5) as client:

            async def revision() -> str | None:
                r = await client.get("/v1/data/system/bundles/greenlang/manifest/revision")
                return r.json().get("result") if r.status_code == 200 else None

            async def served() -> str:
                r = await api.call("GET", "/api/v1/bundles/greenlang")
                return r.headers["ETag"].strip('"')

            first = await served()
            assert await wait_until(lambda: _equals(revision, first))
            # A policy change is a new revision, and OPA takes it on its next poll.
            await api.call("POST", "/api/v1/policies/pol-001-certification-required/disable")
            second = await served()
            assert second != first
            assert await wait_until(lambda: _equals(revision, second))

            # The status plugin reports the active revision back to the registry.
            async def reported() -> bool:
                r = await api.call("GET", "/api/v1/opa/instances")
                rows = await r.json()
                return (
                    bool(rows) and rows[0]["bundles"]["greenlang"].get("active_revision") == second
                )

            assert await wait_until(reported)
            code, out, err = await gov("status", env=registry_env(api, "viewer"))
            assert code == 0, err
            assert "current" in out and second in out

            # A decision made by this OPA reaches the audit trail through its decision logs.
            r = await client.post(
                "/v1/data/greenlang/decision",
                json={"input": {"action": "invoke", "agent": {"id": "gl-cbam-calculator"}}},
            )
            assert r.status_code == 200 and "result" in r.json()

            async def logged() -> bool:
                r = await api.call("GET", "/api/v1/audit?action=opa.decision")
                return bool((await r.json())["events"])

            assert await wait_until(logged)
    finally:
        await asyncio.to_thread(opa.close)


async def _equals(probe, expected: str) -> bool:  # type: ignore[no-untyped-def]
    return await probe() == expected


async def test_retired_agent_is_denied_after_the_next_revision(api: Api, tmp_path: Path) -> None:
    for path in sorted(STOCK_POLICY_DIR.glob("*.yaml")):
        assert (await create(api, path.read_text())).status == 201
    cert = await certify(api)
    assert (await api.register(make_spec(), certificate_id=cert)).status == 201
    decision_input = {
        "input": {
            "action": "invoke",
            "policy_types": ["compliance"],
            "agent": {"id": "gl-cbam-calculator"},
            "deployment": {"environment": "production"},
        }
    }
    opa = OpaProcess(tmp_path, ["--config-file", str(opa_config(api, tmp_path))])
    await asyncio.to_thread(opa.start)
    try:
        async with httpx.AsyncClient(base_url=opa.url, timeout=5) as client:

            async def decision() -> dict | None:
                r = await client.post("/v1/data/greenlang/decision", json=decision_input)
                return r.json().get("result")

            async def decided(expected: str) -> bool:
                result = await decision()
                return bool(result) and result["decision"] == expected

            assert await wait_until(lambda: decided("allow"))
            r = await api.call("DELETE", "/api/v1/agents/gl-cbam-calculator?reason=withdrawn")
            assert r.status == 200
            assert await wait_until(lambda: decided("deny"), limit=15)
            result = await decision()
            assert result is not None
            assert "compliance-certified-active" in {v["policy_id"] for v in result["violations"]}
    finally:
        await asyncio.to_thread(opa.close)


async def test_published_bundles_are_served_signed(api: Api, tmp_path: Path) -> None:
    from bundles.assemble import assemble
    from bundles.compiler import compile_policies
    from bundles.publish import publish_registry

    built = assemble(compile_policies([STOCK_POLICY_DIR]), catalog={})
    path = tmp_path / "bundle.tar.gz"
    path.write_bytes(built.content)
    base = str(api.client.make_url("/")).rstrip("/")
    published = await asyncio.to_thread(publish_registry, path, base, api.tokens["approver"], "ci")
    assert published.revision == built.revision
    r = await api.call("GET", "/api/v1/bundles/ci", "viewer")
    assert r.headers["ETag"] == f'"{built.revision}"'
    served = read_bundle_files(await r.read())  # the uploaded files plus the registry's signature
    assert {k: v for k, v in served.items() if k != SIGNATURES_FILE} == read_bundle_files(
        built.content
    )
    key = api.client.app[BUNDLE_KEY].public_pem
    assert verify_files(served, key).files == tuple(sorted(read_bundle_files(built.content)))
    r = await api.call("GET", "/api/v1/bundles/ci", headers={"If-None-Match": r.headers["ETag"]})
    assert r.status == 304
    gz = {"Content-Type": "application/gzip"}
    assert (
        await api.call("PUT", "/api/v1/bundles/ci", "viewer", data=built.content, headers=gz)
    ).status == 403
    r = await api.call("PUT", "/api/v1/bundles/greenlang", data=built.content, headers=gz)
    assert r.status == 409
    r = await api.call("PUT", "/api/v1/bundles/ci", data=b"not a tarball", headers=gz)
    assert r.status == 422
    r = await api.call(
        "PUT", "/api/v1/bundles/ci", data=built.content, headers={"Content-Type": "text/plain"}
    )
    assert r.status == 415
    r = await api.call("GET", "/api/v1/audit?action=bundle.publish")
    assert len((await r.json())["events"]) == 1


async def test_catalog_endpoint(api: Api) -> None:
    await api.register(make_spec())
    r = await api.call("GET", "/api/v1/catalog", "viewer")
    agents = await r.json()
    assert agents["gl-cbam-calculator"]["versions"]["1.0.0"]["status"] == "DRAFT"
    assert agents["gl-cbam-calculator"]["owner_team"] == "cbam-team"
