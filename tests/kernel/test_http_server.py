"""Requests aiohttp refuses before any handler runs still get problem+json."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from kernel.http_server import ProblemAppRunner
from tests.support.servers import free_port


async def ok(_: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@pytest.fixture
async def port() -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_get("/ok", ok)
    runner = ProblemAppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield port
    await runner.cleanup()


async def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


@pytest.mark.parametrize(
    ("request_bytes", "status", "slug"),
    [
        (b"GET /ok?q=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri-too-long"),
        (
            b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
            431,
            "request-header-fields-too-large",
        ),
        (b"GET /ok HTTP/1.1\r\nHost x\r\n\r\n", 400, "bad-request"),
    ],
)
async def test_protocol_refusals_are_problem_json(
    port: int, request_bytes: bytes, status: int, slug: str
) -> None:
    got, headers, body = await _raw(port, request_bytes)
    assert got == status, body
    assert headers["content-type"].startswith("application/problem+json")
    assert slug.encode() in body and b"request_id" in body


async def test_a_good_request_is_served(port: int) -> None:
    got, _, body = await _raw(port, b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert got == 200 and b'"ok"' in body
