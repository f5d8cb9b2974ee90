"""Status changes through PATCH: each allowed transition, each refused one, gates and If-Match."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api, make_spec

V = "/api/v1/agents/gl-cbam-calculator/versions"


async def certify(api: Api, version: str = "1.0.0", expires: str = "2099-01-01T00:00:00Z") -> str:
    r = await api.call(
        "POST",
        "/api/v1/certificates",
        "approver",
        json={
            "agent_id": "gl-cbam-calculator",
            "version": version,
            "expires_at": expires,
            "issuer": "TÜV",
        },
    )
    assert r.status == 201, await r.text()
    return (await r.json())["certificate_id"]


async def patch(api: Api, version: str, status: str, who: str = "approver", **kw: Any) -> Any:
    return await api.call(
        "PATCH", f"{V}/{version}", who, json={"status": status, "reason": "test"}, **kw
    )


async def to_status(api: Api, status: str, version: str = "1.0.0") -> None:
    path = {
        "draft": [],
        "active": ["active"],
        "deprecated": ["active", "deprecated"],
        "retired": ["active", "deprecated", "retired"],
    }[status]
    await api.register(make_spec(version=version))
    if path:
        await certify(api, version)
    for step in path:
        r = await patch(api, version, step)
        assert r.status == 200, await r.text()


ALLOWED = [
    ("draft", "active"),
    ("active", "deprecated"),
    ("deprecated", "active"),
    ("deprecated", "retired"),
]
REFUSED = [
    ("draft", "deprecated"),
    ("draft", "retired"),
    ("draft", "draft"),
    ("active", "draft"),
    ("active", "retired"),
    ("active", "active"),
    ("deprecated", "draft"),
    ("retired", "active"),
    ("retired", "draft"),
    ("retired", "deprecated"),
    ("retired", "retired"),
]


@pytest.mark.parametrize(("start", "target"), ALLOWED)
async def test_allowed_transition(api: Api, start: str, target: str) -> None:
    await to_status(api, start)
    if start == "draft":
        await certify(api)
    r = await patch(api, "1.0.0", target)
    assert r.status == 200, await r.text()
    assert (await r.json())["status"] == target
    r = await api.call("GET", "/api/v1/audit?action=version.status", "viewer")
    last = (await r.json())["events"][-1]
    assert last["before"] == {"status": start} and last["after"] == {"status": target}


@pytest.mark.parametrize(("start", "target"), REFUSED)
async def test_refused_transition_lists_allowed(api: Api, start: str, target: str) -> None:
    await to_status(api, start)
    before = await api.counts()
    r = await patch(api, "1.0.0", target)
    assert r.status == 409
    body = await r.json()
    assert body["current_status"] == start
    expected = sorted(t for s, t in ALLOWED if s == start)
    assert body["allowed_transitions"] == expected
    assert await api.counts() == before


async def test_activation_needs_unexpired_certificate(api: Api) -> None:
    await api.register(make_spec())
    r = await patch(api, "1.0.0", "active")
    assert r.status == 409
    assert (await r.json())["type"].endswith("/certificate-required")
    await certify(api, expires="2001-01-01T00:00:00Z")  # already expired
    assert (await patch(api, "1.0.0", "active")).status == 409
    await certify(api)
    assert (await patch(api, "1.0.0", "active")).status == 200


async def test_reactivation_needs_approver(api: Api) -> None:
    await to_status(api, "deprecated")
    assert (await patch(api, "1.0.0", "active", "publisher")).status == 403
    assert (await patch(api, "1.0.0", "active", "viewer")).status == 403
    assert (await patch(api, "1.0.0", "active", "approver")).status == 200


async def test_current_version_follows_latest_activation(api: Api) -> None:
    await to_status(api, "active", "1.0.0")
    await api.register(make_spec(version="2.0.0", name="CBAM Calculator 2"))
    entry = await (await api.call("GET", "/api/v1/agents/gl-cbam-calculator")).json()
    assert entry["current_version"] == "1.0.0" and entry["status"] == "active"
    await certify(api, "2.0.0")
    assert (await patch(api, "2.0.0", "active")).status == 200
    entry = await (await api.call("GET", "/api/v1/agents/gl-cbam-calculator")).json()
    assert entry["current_version"] == "2.0.0" and entry["name"] == "CBAM Calculator 2"
    assert (await patch(api, "2.0.0", "deprecated")).status == 200
    entry = await (await api.call("GET", "/api/v1/agents/gl-cbam-calculator")).json()
    assert entry["current_version"] == "2.0.0" and entry["status"] == "deprecated"
    r = await api.call("GET", "/api/v1/agents/search?query=cbam&status=deprecated")
    assert (await r.json())["total"] == 1


async def test_if_match_guards_concurrent_edits(api: Api) -> None:
    await to_status(api, "active")
    r = await api.call("GET", f"{V}/1.0.0")
    etag = r.headers["ETag"]
    assert (await patch(api, "1.0.0", "deprecated", headers={"If-Match": etag})).status == 200
    r = await patch(api, "1.0.0", "active", headers={"If-Match": etag})
    assert r.status == 412
    assert (await patch(api, "1.0.0", "active", headers={"If-Match": "garbage"})).status == 412


async def test_patch_bad_bodies(api: Api) -> None:
    await api.register(make_spec())
    cases: list[dict[str, Any]] = [
        {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
        {"json": {"status": "alive"}},
        {"json": {"status": "active", "extra": 1}},
        {"json": ["active"]},
        {
            "data": b"status=active",
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        },
    ]
    before = await api.counts()
    for kw in cases:
        r = await api.call("PATCH", f"{V}/1.0.0", "approver", **kw)
        assert 400 <= r.status < 500, kw
        assert r.headers["Content-Type"].startswith("application/problem+json")
    assert (await patch(api, "9.9.9", "active")).status == 404
    assert await api.counts() == before


async def test_registration_with_certificate(api: Api) -> None:
    cert = await certify(api)  # issued before the version exists
    r = await api.register(make_spec(), certificate_id=cert)
    assert r.status == 201, await r.text()
    entry = await r.json()
    assert entry["status"] == "active"
    assert entry["versions"][0]["certificate_id"] == cert
    r = await api.call("GET", f"/api/v1/certificates/{cert}", "viewer")
    assert (await r.json())["valid"] is True


async def test_registration_with_expired_certificate_starts_draft(api: Api) -> None:
    cert = await certify(api, expires="2001-01-01T00:00:00Z")
    r = await api.register(make_spec(), certificate_id=cert)
    assert r.status == 201
    assert (await r.json())["status"] == "draft"


async def test_registration_with_foreign_or_unknown_certificate_is_refused(api: Api) -> None:
    cert = await certify(api, "9.0.0")
    before = await api.counts()
    r = await api.register(make_spec(), certificate_id=cert)
    assert r.status == 422
    assert "9.0.0" in (await r.json())["detail"]
    assert (await api.register(make_spec(), certificate_id="CERT-NOPE")).status == 422
    assert await api.counts() == before


async def test_certificate_issued_later_certifies_version(api: Api) -> None:
    await api.register(make_spec())
    v = await (await api.call("GET", f"{V}/1.0.0")).json()
    assert v["certified"] is False
    cert = await certify(api)
    v = await (await api.call("GET", f"{V}/1.0.0")).json()
    assert v["certified"] is True and v["certificate_id"] == cert


async def test_certificate_bad_requests(api: Api) -> None:
    base = {
        "agent_id": "gl-cbam-calculator",
        "version": "1.0.0",
        "expires_at": "2099-01-01T00:00:00Z",
        "issuer": "x",
    }
    for bad in (
        {**base, "version": "1.0"},
        {**base, "agent_id": "Bad_Id"},
        {**base, "expires_at": "2099-01-01T00:00:00"},
        {**base, "expires_at": "soon"},
        {**base, "issuer": ""},
        {k: v for k, v in base.items() if k != "issuer"},
    ):
        r = await api.call("POST", "/api/v1/certificates", "approver", json=bad)
        assert r.status == 422, bad
    assert (await api.call("GET", "/api/v1/certificates/CERT-MISSING")).status == 404
    assert await api.pool.fetchval("SELECT count(*) FROM certificates") == 0
