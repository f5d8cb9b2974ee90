"""A real upstream aiohttp server and the proxy in front of it, both on free loopback ports."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from sidecar.proxy import create_proxy_app
from tests.support.servers import free_port

GZIP_PAYLOAD = gzip.compress(b'{"message": "' + b"compressible " * 2000 + b'"}', mtime=0)
SSE_EVENTS = [b"id: 1\ndata: first\n\n", b"id: 2\ndata: second\n\n"]


@dataclass
class Upstream:
    url: str
    sse_release: asyncio.Event = field(default_factory=asyncio.Event)
    sse_finished: asyncio.Event = field(default_factory=asyncio.Event)
    slow_answered: asyncio.Event = field(default_factory=asyncio.Event)


def upstream_app(state: Upstream) -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        digest = hashlib.sha256()
        size = 0
        async for chunk in request.content.iter_any():
            digest.update(chunk)
            size += len(chunk)
        return web.json_response(
            {
                "method": request.method,
                "raw_path": request.raw_path,
                "headers": [[k, v] for k, v in request.headers.items()],
                "body_sha256": digest.hexdigest(),
                "body_len": size,
                "chunked": request.headers.get("Transfer-Encoding") == "chunked",
            },
            headers={"X-Upstream": "yes"},
        )

    async def status(request: web.Request) -> web.Response:
        code = int(request.match_info["code"])
        headers = {"X-Status": str(code)}
        if code in (301, 302, 303, 307, 308):
            headers["Location"] = "/elsewhere?x=1"
        if code in (204, 304):
            return web.Response(status=code, headers=headers)
        return web.Response(status=code, text=f"status {code}", headers=headers)

    async def binary(request: web.Request) -> web.StreamResponse:
        size = int(request.query["size"])
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await resp.prepare(request)
        block = bytes(range(256)) * 256  # 64 KiB of every byte value
        sent = 0
        while sent < size:
            part = block[: min(len(block), size - sent)]
            await resp.write(part)
            sent += len(part)
        await resp.write_eof()
        return resp

    async def gz(request: web.Request) -> web.Response:
        return web.Response(
            body=GZIP_PAYLOAD,
            headers={
                "Content-Encoding": "gzip",
                "Content-Type": "application/json",
                "X-Accept-Encoding-Seen": request.headers.get("Accept-Encoding", ""),
            },
        )

    async def sse(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        await resp.write(SSE_EVENTS[0])
        await asyncio.wait_for(state.sse_release.wait(), 10)
        await resp.write(SSE_EVENTS[1])
        await resp.write_eof()
        state.sse_finished.set()
        return resp

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("delay", "2")))
        state.slow_answered.set()
        return web.Response(text="late")

    app = web.Application(handler_args={"auto_decompress": False})
    app.router.add_route("*", "/status/{code}", status)
    app.router.add_get("/binary", binary)
    app.router.add_get("/gzip", gz)
    app.router.add_get("/sse", sse)
    app.router.add_get("/slow", slow)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    port = free_port()
    state = Upstream(url=f"http://127.0.0.1:{port}")
    server = TestServer(upstream_app(state), host="127.0.0.1", port=port)
    await server.start_server()
    yield state
    await server.close()


MakeProxy = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
async def make_proxy() -> AsyncIterator[MakeProxy]:
    clients: list[TestClient[web.Request, web.Application]] = []

    async def make(upstream_url: str, **kwargs: Any) -> TestClient[web.Request, web.Application]:
        server = TestServer(
            create_proxy_app(upstream_url, **kwargs), host="127.0.0.1", port=free_port()
        )
        client = TestClient(server)
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for c in clients:
        await c.close()


@pytest.fixture
async def proxy(
    upstream: Upstream, make_proxy: MakeProxy
) -> TestClient[web.Request, web.Application]:
    return await make_proxy(upstream.url)
