"""Inputs a fuzzer or a careless client sends: each gets a 4xx problem+json and writes nothing
(issue 14, "Defects found")."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api

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
        body = '{"labels": {"id": "opa-1"}, "metrics": {"x": %s}}' % number
    else:
        body = '[{"decision_id": "d1", "result": %s, "timestamp": "2026-01-01T00:00:00Z"}]' % number
    headers = {"Content-Type": "application/json"}
    problem = await _refused(api, "POST", path, "service", data=body, headers=headers)
    assert problem["status"] == 400
