"""Inputs a fuzzer or a careless client sends: each gets a 4xx problem+json and writes nothing
(issue 14, "Defects found")."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from registry.api.middleware import THROTTLE
from tests.api.conftest import Api, make_spec
from tests.api.test_bad_input import form

PROBLEM = "application/problem+json"


async def _refused(api: Api, method: str, path: str, who: str, **kw: Any) -> dict[str, Any]:
    before = await api.counts()
    resp = await api.call(method, path, who, **kw)
    body = await resp.text()
    assert 400 <= resp.status < 500, (resp.status, body)
    assert resp.content_type == PROBLEM, body
    assert await api.counts() == before
    return await resp.json()


async def test_deeply_nested_registration_body(api: Api) -> None:
    deep = '{"spec": ' + "[" * 990 + "]" * 990 + "}"
    headers = {"Content-Type": "application/json"}
    problem = await _refused(api, "POST", "/api/v1/agents", "admin", data=deep, headers=headers)
    assert problem["status"] == 400


async def test_multipart_without_boundary(api: Api) -> None:
    headers = {"Content-Type": "multipart/form-data"}
    problem = await _refused(api, "POST", "/api/v1/agents", "admin", data=b"x", headers=headers)
    assert "boundary" in problem["detail"]


async def test_gzip_encoding_on_a_plain_body(api: Api) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    problem = await _refused(
        api, "POST", "/api/v1/audit", "service", data=b'{"events": []}', headers=headers
    )
    assert problem["status"] == 400
    assert "gzip" in problem["detail"]


@pytest.mark.parametrize("value", ["9223372036854775808", "-9223372036854775809", "1e400"])
async def test_audit_sequence_out_of_range(api: Api, value: str) -> None:
    await _refused(api, "GET", f"/api/v1/audit?after_seq={value}", "viewer")


@pytest.mark.parametrize("path", ["/api/v1/opa/status", "/api/v1/opa/logs"])
@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
async def test_non_finite_numbers_in_opa_reports(api: Api, path: str, number: str) -> None:
    if path.endswith("status"):
        body = '{"labels": {"id": "opa-1"}, "metrics": {"x": NUMBER}}'
    else:
        body = '[{"decision_id": "d1", "result": NUMBER, "timestamp": "2026-01-01T00:00:00Z"}]'
    body = body.replace("NUMBER", number)
    headers = {"Content-Type": "application/json"}
    problem = await _refused(api, "POST", path, "service", data=body, headers=headers)
    assert problem["status"] == 400


async def test_no_server_paths_shown_to_a_viewer(api: Api) -> None:
    r = await api.call("POST", "/api/v1/agents", data=form(yaml.safe_dump(make_spec()), b"tgz"))
    assert r.status == 201, await r.text()
    r = await api.call("GET", "/api/v1/agents/gl-cbam-calculator", "viewer")
    text = await r.text()
    assert "file:" not in text and str(api.artifact_dir) not in text
    assert (await r.json())["versions"][0]["artifact_sha256"]

    headers = {"Content-Type": "application/yaml"}
    problem = await _refused(
        api, "POST", "/api/v1/policies", "admin", data="policy_id: x\ntype: nope\n", headers=headers
    )
    assert problem["detail"].startswith("invalid policy: request.yaml:1: "), problem["detail"]
    assert "/tmp" not in problem["detail"] and "gl-policies" not in problem["detail"]


@pytest.mark.parametrize(
    ("path", "size"),
    [("/api/v1/certificates", 100 * 1024), ("/api/v1/subscriptions", 2 * 1024 * 1024)],
)
async def test_too_large_is_one_problem_type(api: Api, path: str, size: int) -> None:
    body = b'{"x": "' + b"a" * size + b'"}'
    headers = {"Content-Type": "application/json"}
    problem = await _refused(api, "POST", path, "admin", data=body, headers=headers)
    assert problem["status"] == 413
    assert problem["type"].endswith("/payload-too-large"), problem


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8700/api/v1/agents",  # the registry itself
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://10.0.0.5/admin",
        "http://[::1]:9901/metrics",
        "http://[::ffff:192.168.1.1]/",
        "http://localhost/hook",
    ],
)
async def test_webhooks_to_private_addresses_are_refused(api: Api, url: str) -> None:
    assert (await api.register(make_spec())).status == 201
    body = {"url": url, "agent_id": "gl-cbam-calculator"}
    problem = await _refused(api, "POST", "/api/v1/subscriptions", "admin", json=body)
    assert problem["status"] == 422
    assert "GREENLANG_WEBHOOK_ALLOW_NETWORKS" in problem["detail"]
    assert problem["errors"][0]["field"] == "url"


async def test_an_allowed_network_may_take_webhooks(pool: Any, tmp_path: Any) -> None:
    from registry.api.context import ApiSettings
    from registry.webhooks.destinations import Destinations, parse_networks
    from tests.api.conftest import MAX_ARTIFACT, start_api_with

    settings = ApiSettings(
        tmp_path / "spool", MAX_ARTIFACT, webhooks=Destinations(parse_networks("10.0.0.0/8"))
    )
    api = await start_api_with(pool, tmp_path, settings)
    try:
        assert (await api.register(make_spec())).status == 201
        body = {"url": "http://10.0.0.5/hook", "agent_id": "gl-cbam-calculator"}
        r = await api.call("POST", "/api/v1/subscriptions", "admin", json=body)
        assert r.status == 201, await r.text()
        body["url"] = "http://192.168.0.5/hook"
        r = await api.call("POST", "/api/v1/subscriptions", "admin", json=body)
        assert r.status == 422
    finally:
        await api.client.close()


async def test_token_guessing_is_throttled_per_address(api: Api) -> None:
    bad = {"Authorization": "Bearer gl_" + "0" * 40}
    limit = api.client.app[THROTTLE].limit
    for _ in range(limit):
        assert (await api.client.get("/api/v1/agents", headers=bad)).status == 401
    r = await api.client.get("/api/v1/agents", headers=bad)
    assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
    assert (await r.json())["type"].endswith("/too-many-requests")
    # a good token from the same address waits too: a guesser may hold one
    assert (await api.call("GET", "/api/v1/agents", "viewer")).status == 429
    assert (await api.client.get("/healthz")).status == 200  # only the API is guarded


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/agents/gl-%00-nul",
        "/api/v1/agents/gl-%FF%FE",
        "/api/v1/agents/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/agents/gl-cbam-calculator/versions/1.0.0%00/artifact",
        "/api/v1/deployments/dep-%00",
        "/api/v1/certificates/CERT-%FF",
    ],
)
async def test_odd_ids_in_paths_are_4xx(api: Api, path: str) -> None:
    r = await api.call("GET", path, "viewer")
    assert 400 <= r.status < 500, (r.status, await r.text())
    assert r.content_type == PROBLEM


@pytest.mark.parametrize(
    "query",
    [
        "page=-1",
        "page=99999999999999999999",
        "page_size=0",
        "page_size=1000000",
        "page=1&page=2",
        "query=' OR 1=1 --",
        "query=.*(a+)+$",
        "query=%25%25%25_%5C",
        "query=" + "a" * 300,
        "tags=" + ",".join(["t"] * 50),
    ],
)
async def test_hostile_search_parameters(api: Api, query: str) -> None:
    assert (await api.register(make_spec())).status == 201
    r = await api.call("GET", f"/api/v1/agents/search?{query}", "viewer")
    assert r.status in (200, 400, 422), (r.status, await r.text())
    if r.status == 200:  # an odd but valid query: an ordinary answer
        assert set(await r.json()) >= {"total", "agents"}
    else:
        assert r.content_type == PROBLEM


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/agents", {"spec": make_spec(agent_id="gl-viewer-made")}),
        ("DELETE", "/api/v1/agents/gl-cbam-calculator", None),
        ("PATCH", "/api/v1/agents/gl-cbam-calculator/versions/1.0.0", {"status": "active"}),
        (
            "POST",
            "/api/v1/certificates",
            {
                "agent_id": "gl-cbam-calculator",
                "version": "1.0.0",
                "expires_at": "2099-01-01T00:00:00Z",
                "issuer": "me",
            },
        ),
        ("POST", "/api/v1/subscriptions", {"url": "https://hooks.example/x", "team": "t"}),
        ("POST", "/api/v1/agents/gl-cbam-calculator/deploy", {"version": "1.0.0"}),
    ],
)
async def test_a_viewer_token_cannot_write(
    api: Api, method: str, path: str, body: dict[str, Any] | None
) -> None:
    assert (await api.register(make_spec())).status == 201
    before = await api.counts()
    r = await api.call(method, path, "viewer", json=body)
    assert r.status == 403, (r.status, await r.text())
    assert r.content_type == PROBLEM
    assert await api.counts() == before
