"""Every registry error body, the 500 included, carries `instance` and `request_id`."""

from __future__ import annotations

import json

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from kernel.logs import configure_logging
from registry.api.middleware import errors_and_ids
from registry.errors import NotFound


async def _client() -> TestClient:
    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals")

    async def missing(request: web.Request) -> web.Response:
        raise NotFound("no such agent")

    app = web.Application(middlewares=[errors_and_ids])
    app.router.add_get("/boom", boom)
    app.router.add_get("/missing", missing)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_500_body_has_instance_and_request_id_and_no_internals() -> None:
    client = await _client()
    try:
        r = await client.get("/boom", headers={"X-Request-Id": "req-500"})
        body = await r.json(content_type="application/problem+json")
        assert r.status == 500 and r.headers["X-Request-Id"] == "req-500"
        assert body["instance"] == "/boom" and body["request_id"] == "req-500"
        assert body["type"].endswith("/internal-error") and "secret" not in body["detail"]
        r = await client.get("/missing")
        body = await r.json(content_type="application/problem+json")
        assert r.status == 404 and body["instance"] == "/missing"
        assert body["request_id"] == r.headers["X-Request-Id"]
        r = await client.post("/missing")  # the framework's own 405
        body = await r.json(content_type="application/problem+json")
        assert r.status == 405 and body["instance"] == "/missing" and "Allow" in r.headers
    finally:
        await client.close()


async def test_lines_logged_while_serving_a_request_carry_its_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info", component="registry")
    client = await _client()
    try:
        r = await client.get("/boom", headers={"X-Request-Id": "req-log-1"})
        assert r.status == 500
    finally:
        await client.close()
        structlog.reset_defaults()
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    [failed] = [x for x in lines if x["event"] == "unhandled error"]
    assert failed["request_id"] == "req-log-1" and failed["component"] == "registry"
    assert "RuntimeError: secret internals" in failed["exception"]  # the log keeps the trace
