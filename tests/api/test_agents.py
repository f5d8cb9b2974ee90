"""Registering, reading, versions, artifacts, search and soft delete through the HTTP API."""

from __future__ import annotations

import asyncio
import hashlib

import aiohttp
import yaml

from registry.catalog.models import SearchQuery
from registry.catalog.service import RegistryService
from registry.search.postgres import PostgresSearchIndex
from tests.api.conftest import Api, make_spec


def multipart(
    spec: dict, artifact: bytes | None = None, certificate_id: str | None = None
) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field(
        "spec", yaml.safe_dump(spec), content_type="application/yaml", filename="agent.yaml"
    )
    if artifact is not None:
        form.add_field(
            "artifact", artifact, content_type="application/octet-stream", filename="a.tgz"
        )
    if certificate_id is not None:
        form.add_field("certificate_id", certificate_id)
    return form


async def test_register_multipart_with_artifact_and_download(api: Api) -> None:
    blob = b"artifact-bytes" * 1000
    r = await api.call("POST", "/api/v1/agents", data=multipart(make_spec(), blob))
    assert r.status == 201, await r.text()
    entry = await r.json()
    assert r.headers["Location"] == "/api/v1/agents/gl-cbam-calculator/versions/1.0.0"
    assert entry["current_version"] == "1.0.0" and entry["status"] == "draft"
    v = entry["versions"][0]
    assert v["artifact_sha256"] == hashlib.sha256(blob).hexdigest()
    assert v["artifact_size"] == len(blob)

    r = await api.call("GET", "/api/v1/agents/gl-cbam-calculator/versions/1.0.0/artifact", "viewer")
    assert r.status == 200
    assert await r.read() == blob
    etag = r.headers["ETag"]
    assert etag == f'"{hashlib.sha256(blob).hexdigest()}"'
    r = await api.call(
        "GET",
        "/api/v1/agents/gl-cbam-calculator/versions/1.0.0/artifact",
        "viewer",
        headers={"If-None-Match": etag},
    )
    assert r.status == 304


async def test_artifact_missing_version_and_no_artifact(api: Api) -> None:
    await api.register(make_spec())
    r = await api.call("GET", "/api/v1/agents/gl-cbam-calculator/versions/1.0.0/artifact")
    assert r.status == 404
    r = await api.call("GET", "/api/v1/agents/gl-cbam-calculator/versions/9.9.9/artifact")
    assert r.status == 404
    assert "9.9.9" in (await r.json())["detail"]


async def test_tampered_artifact_is_not_served_whole(api: Api) -> None:
    blob = b"x" * 200_000
    await api.call("POST", "/api/v1/agents", data=multipart(make_spec(), blob))
    (path,) = [p for p in api.artifact_dir.rglob("*") if p.is_file()]
    path.write_bytes(b"y" * 200_000)
    r = await api.call("GET", "/api/v1/agents/gl-cbam-calculator/versions/1.0.0/artifact")
    try:
        body = await r.read()
    except aiohttp.ClientPayloadError:
        return  # connection cut short: the client knows the transfer failed
    assert (
        hashlib.sha256(body).hexdigest() != hashlib.sha256(b"y" * 200_000).hexdigest()
        or len(body) < 200_000
    )


async def test_register_json_and_new_version_appends(api: Api) -> None:
    assert (await api.register(make_spec(version="1.0.0"))).status == 201
    r = await api.register(make_spec(version="1.1.0", name="CBAM Calculator NEXT"))
    assert r.status == 201
    entry = await r.json()
    assert [v["version"] for v in entry["versions"]] == ["1.0.0", "1.1.0"]
    # A new DRAFT does not move the serving version, nor the card.
    assert entry["current_version"] == "1.0.0"
    assert entry["name"] == "CBAM Calculator"


async def test_same_version_twice_is_409(api: Api) -> None:
    assert (await api.register(make_spec())).status == 201
    before = await api.counts()
    r = await api.register(make_spec())
    assert r.status == 409
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert await api.counts() == before


async def test_get_agent_versions_and_version(api: Api) -> None:
    await api.register(make_spec(version="1.0.0"))
    await api.register(make_spec(version="1.10.0"))
    await api.register(make_spec(version="1.2.0"))
    r = await api.call("GET", "/api/v1/agents/gl-cbam-calculator/versions", "viewer")
    assert [v["version"] for v in await r.json()] == ["1.0.0", "1.2.0", "1.10.0"]
    r = await api.call("GET", "/api/v1/agents/gl-cbam-calculator/versions/1.2.0", "viewer")
    assert (await r.json())["version"] == "1.2.0"
    assert r.headers["ETag"] == '"1"'
    # Reading a version never changes current_version.
    r = await api.call("GET", "/api/v1/agents/gl-cbam-calculator", "viewer")
    assert (await r.json())["current_version"] == "1.0.0"
    r = await api.call("GET", "/api/v1/agents/no-such-agent", "viewer")
    assert r.status == 404


async def test_search_filters_facets_and_status(api: Api) -> None:
    await api.register(make_spec("gl-cbam-calculator"))
    await api.register(
        make_spec(
            "gl-cbam-reporter",
            name="CBAM Quarterly Reporter",
            type="reporter",
            description="Prepares the quarterly CBAM declaration for importers.",
            metadata={"tags": ["cbam", "reporting"]},
        )
    )
    await api.register(
        make_spec(
            "gl-csrd-e1",
            name="CSRD ESRS E1 Checker",
            type="validator",
            description="Checks ESRS E1 climate datapoints for completeness.",
            metadata={"team": "csrd-team", "regulatory_scope": ["CSRD"], "tags": ["esrs"]},
        )
    )
    r = await api.call("GET", "/api/v1/agents/search?query=cbam", "viewer")
    body = await r.json()
    assert body["total"] == 2
    assert {a["agent_id"] for a in body["agents"]} == {"gl-cbam-calculator", "gl-cbam-reporter"}
    assert all(a["status"] == "draft" for a in body["agents"])
    assert body["facets"]["type"] == {"calculator": 1, "reporter": 1}
    r = await api.call(
        "GET", "/api/v1/agents/search?query=cbam&tags=reporting&type=reporter", "viewer"
    )
    assert [a["agent_id"] for a in (await r.json())["agents"]] == ["gl-cbam-reporter"]
    r = await api.call("GET", "/api/v1/agents/search?query=calculatr", "viewer")
    assert [a["agent_id"] for a in (await r.json())["agents"]] == ["gl-cbam-calculator"]
    r = await api.call("GET", "/api/v1/agents/search?regulatory_scope=CSRD&status=draft", "viewer")
    assert [a["agent_id"] for a in (await r.json())["agents"]] == ["gl-csrd-e1"]
    r = await api.call("GET", "/api/v1/agents/search?page=2&page_size=2", "viewer")
    body = await r.json()
    assert body["total"] == 3 and len(body["agents"]) == 1 and body["page"] == 2
    r = await api.call("GET", "/api/v1/agents?owner_team=csrd-team", "viewer")
    assert (await r.json())["total"] == 1


async def test_search_results_follow_writes(api: Api) -> None:
    """Search results are cached (600 s in these tests): every write of this registry clears
    them, so a search right after a write sees it."""
    await api.register(make_spec("gl-cbam-calculator"))
    query = "/api/v1/agents/search?query=cbam"
    first = await (await api.call("GET", query, "viewer")).json()
    assert [a["agent_id"] for a in first["agents"]] == ["gl-cbam-calculator"]
    await api.register(make_spec("gl-cbam-reporter", name="CBAM Reporter"))
    second = await (await api.call("GET", query, "viewer")).json()
    assert second["total"] == 2
    r = await api.call("DELETE", "/api/v1/agents/gl-cbam-reporter", "admin")
    assert r.status == 200
    third = await (await api.call("GET", query + "&status=retired", "viewer")).json()
    assert [a["agent_id"] for a in third["agents"]] == ["gl-cbam-reporter"]
    fourth = await (await api.call("GET", query, "viewer")).json()
    assert {a["agent_id"]: a["status"] for a in fourth["agents"]}["gl-cbam-reporter"] == "retired"


async def test_other_registries_writes_show_within_two_ttls(api: Api) -> None:
    """A second registry process (here: a second service on the same database) caches search
    results for its TTL, then serves the expired result for one more TTL while it refreshes
    it in the background; past that it queries again before answering."""
    ttl = 0.4
    other = RegistryService(api.pool, api.service.artifacts, PostgresSearchIndex(api.pool), ttl)
    query = SearchQuery(query="cbam")
    try:
        await api.register(make_spec("gl-cbam-calculator"))
        assert (await other.search(query)).total == 1
        await api.register(make_spec("gl-cbam-reporter", name="CBAM Reporter"))
        assert (await other.search(query)).total == 1  # cached: the write was not its own
        await asyncio.sleep(ttl * 1.2)
        assert (await other.search(query)).total == 1  # expired: served, refresh started
        for _ in range(50):
            await asyncio.sleep(0.02)
            if (await other.search(query)).total == 2:
                break
        assert (await other.search(query)).total == 2  # the refresh landed
        await api.register(make_spec("gl-cbam-verifier", name="CBAM Verifier"))
        await asyncio.sleep(ttl * 2.2)
        assert (await other.search(query)).total == 3  # too old to serve: asked again
    finally:
        await other.close()


async def test_search_bad_parameters_are_400s(api: Api) -> None:
    for qs in (
        "page=0",
        "page_size=1000",
        "status=alive",
        "page=abc",
        "bogus=1",
        "owner_team=a&owner_team=b",
    ):
        r = await api.call("GET", f"/api/v1/agents/search?{qs}", "viewer")
        assert 400 <= r.status < 500, qs
        assert r.headers["Content-Type"].startswith("application/problem+json"), qs


async def test_soft_delete_retires_every_version_and_keeps_history(api: Api) -> None:
    await api.register(make_spec(version="1.0.0"))
    await api.register(make_spec(version="2.0.0"))
    r = await api.call("DELETE", "/api/v1/agents/gl-cbam-calculator?reason=superseded", "approver")
    assert r.status == 200, await r.text()
    entry = await r.json()
    assert entry["deleted_at"] is not None
    assert [v["status"] for v in entry["versions"]] == ["retired", "retired"]
    r = await api.call("GET", "/api/v1/agents/search?status=retired", "viewer")
    assert [a["agent_id"] for a in (await r.json())["agents"]] == ["gl-cbam-calculator"]
    assert (await api.call("DELETE", "/api/v1/agents/gl-cbam-calculator")).status == 409
    assert (await api.register(make_spec(version="3.0.0"))).status == 409
    assert (await api.call("DELETE", "/api/v1/agents/missing-agent")).status == 404
    r = await api.call(
        "GET", "/api/v1/audit?agent_id=gl-cbam-calculator&action=agent.delete", "viewer"
    )
    (event,) = (await r.json())["events"]
    assert event["reason"] == "superseded"
    assert event["before"] == {"1.0.0": "draft", "2.0.0": "draft"}
