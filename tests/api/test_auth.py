"""Every /api/v1 call needs a token; every mutation checks the caller's role (and team)."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, make_spec

MUTATIONS = [
    ("POST", "/api/v1/agents", {"json": {"spec": make_spec("gl-new-agent")}}),
    ("PATCH", "/api/v1/agents/gl-cbam-calculator/versions/1.0.0", {"json": {"status": "active"}}),
    ("DELETE", "/api/v1/agents/gl-cbam-calculator", {}),
    (
        "POST",
        "/api/v1/certificates",
        {
            "json": {
                "agent_id": "gl-cbam-calculator",
                "version": "1.0.0",
                "expires_at": "2099-01-01T00:00:00Z",
                "issuer": "x",
            }
        },
    ),
]
READS = [
    "/api/v1/agents/gl-cbam-calculator",
    "/api/v1/agents/search?query=cbam",
    "/api/v1/agents/gl-cbam-calculator/versions",
    "/api/v1/audit",
]


@pytest.mark.parametrize("path", READS)
async def test_reads_need_a_token(api: Api, path: str) -> None:
    await api.register(make_spec())
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        r = await api.client.get(path, headers=headers)
        assert r.status == 401
        assert r.headers["Content-Type"].startswith("application/problem+json")
        assert (await r.json())["status"] == 401
    assert (await api.call("GET", path, "viewer")).status == 200


@pytest.mark.parametrize(("method", "path", "kw"), MUTATIONS)
async def test_viewer_cannot_mutate(api: Api, method: str, path: str, kw: dict) -> None:
    await api.register(make_spec())
    before = await api.counts()
    r = await api.call(method, path, "viewer", **kw)
    assert r.status == 403, await r.text()
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert await api.counts() == before
    r = await api.client.request(method, path, **kw)
    assert r.status == 401


async def test_publisher_registers_only_for_own_team(api: Api) -> None:
    assert (await api.register(make_spec(), "publisher")).status == 201
    r = await api.register(make_spec(version="1.1.0"), "other_publisher")
    assert r.status == 403
    spec = make_spec("gl-csrd-agent", metadata={"team": "cbam-team"})
    assert (await api.register(spec, "other_publisher")).status == 403
    spec = make_spec("gl-csrd-agent", metadata={"team": "csrd-team"})
    assert (await api.register(spec, "other_publisher")).status == 201
    assert (await api.register(make_spec("gl-approver-agent"), "approver")).status == 403


async def test_publisher_cannot_change_status_or_issue_certificates(api: Api) -> None:
    await api.register(make_spec(), "publisher")
    for method, path, kw in MUTATIONS[1:]:
        assert (await api.call(method, path, "publisher", **kw)).status == 403


async def test_team_of_existing_agent_cannot_change(api: Api) -> None:
    await api.register(make_spec())
    r = await api.register(make_spec(version="2.0.0", metadata={"team": "csrd-team"}))
    assert r.status == 409
    assert "cbam-team" in (await r.json())["detail"]


async def test_tokens_are_stored_hashed(api: Api) -> None:
    rows = await api.pool.fetch("SELECT token_hash FROM api_tokens")
    stored = {r["token_hash"] for r in rows}
    assert not stored & set(api.tokens.values())
    assert all(len(h) == 64 for h in stored)
