"""The transparent proxy against a real upstream server on a loopback port."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator

import aiohttp
import psutil
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict
from yarl import URL

from sidecar.proxy import PROXY, create_proxy_app, filter_hop_by_hop
from tests.sidecar.conftest import GZIP_PAYLOAD, SSE_EVENTS, MakeProxy, Upstream
from tests.support.servers import free_port

Client = TestClient[web.Request, web.Application]
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def headers_of(body: dict[str, object]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in body["headers"]:  # type: ignore[attr-defined]
        out.setdefault(k.lower(), []).append(v)
    return out


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"])
async def test_every_method_is_forwarded(proxy: Client, method: str) -> None:
    data = b"payload" if method in ("POST", "PUT", "PATCH") else None
    async with proxy.request(method, "/things/1", data=data) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["method"] == method
    assert body["raw_path"] == "/things/1"
    assert body["body_len"] == (len(data) if data else 0)
    assert resp.headers["X-Upstream"] == "yes"


async def test_head_passes_headers_without_body(proxy: Client) -> None:
    async with proxy.head("/status/200") as resp:
        assert resp.status == 200
        assert resp.headers["X-Status"] == "200"
        assert await resp.read() == b""


async def test_encoded_path_and_query_round_trip(proxy: Client) -> None:
    raw = "/a%2Fb/c%20d/%C3%A9?q=a%20b&x=%2F%3F%26%3D&plus=1+2&empty=&dup=1&dup=2&u=%E2%9C%93"
    url = URL(str(proxy.make_url("/")).rstrip("/") + raw, encoded=True)
    async with proxy.session.get(url) as resp:
        body = await resp.json()
    assert body["raw_path"] == raw


async def test_binary_body_byte_for_byte_both_ways(proxy: Client) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(payload), 100_000):
            yield payload[i : i + 100_000]

    async with proxy.post("/upload", data=chunks()) as resp:
        body = await resp.json()
    assert body["chunked"] is True
    assert body["body_len"] == len(payload)
    assert body["body_sha256"] == hashlib.sha256(payload).hexdigest()

    async with proxy.put("/upload", data=payload) as resp:  # with Content-Length
        body = await resp.json()
    assert headers_of(body)["content-length"] == [str(len(payload))]
    assert body["body_sha256"] == hashlib.sha256(payload).hexdigest()

    size = 5 * 1024 * 1024 + 3
    block = bytes(range(256)) * 256
    expected = hashlib.sha256((block * (size // len(block) + 1))[:size]).hexdigest()
    async with proxy.get("/binary", params={"size": str(size)}) as resp:
        got = hashlib.sha256(await resp.read()).hexdigest()
    assert got == expected


async def test_hop_by_hop_request_headers_dropped_and_forwarded_added(proxy: Client) -> None:
    sent = {
        "Connection": "keep-alive, X-Private-Hop",
        "X-Private-Hop": "secret",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Trailer": "X-Checksum",
        "Proxy-Authorization": "Basic Zm9vOmJhcg==",
        "Upgrade": "example/1",
        "X-Forwarded-For": "203.0.113.7",
        "X-End-To-End": "kept",
        "Authorization": "Bearer abc",
        "Accept-Encoding": "br",
    }
    async with proxy.get("/h", headers=sent) as resp:
        body = await resp.json()
    got = headers_of(body)
    for name in (
        "x-private-hop",
        "keep-alive",
        "te",
        "trailer",
        "proxy-authorization",
        "upgrade",
    ):
        assert name not in got, name
    assert got.get("connection", ["keep-alive"]) == ["keep-alive"]  # the proxy's own hop
    assert got["x-end-to-end"] == ["kept"]
    assert got["authorization"] == ["Bearer abc"]
    assert got["accept-encoding"] == ["br"]
    assert got["x-forwarded-for"] == ["203.0.113.7, 127.0.0.1"]
    assert got["x-forwarded-proto"] == ["http"]
    assert got["x-forwarded-host"] == [f"127.0.0.1:{proxy.port}"]
    assert "user-agent" in got  # aiohttp test client's own, passed through


async def test_no_invented_request_headers(proxy: Client) -> None:
    raw = f"GET /bare HTTP/1.1\r\nHost: 127.0.0.1:{proxy.port}\r\n\r\n".encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(raw)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":", 1)[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
    )
    body = json.loads(await reader.readexactly(length))
    writer.close()
    got = headers_of(body)
    for name in ("user-agent", "accept", "accept-encoding", "content-type"):
        assert name not in got, name


async def _raw_upstream(response: bytes) -> tuple[asyncio.Server, str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(response)
        await writer.drain()
        writer.close()

    port = free_port()
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    return server, f"http://127.0.0.1:{port}"


async def test_hop_by_hop_response_headers_dropped(make_proxy: MakeProxy) -> None:
    server, url = await _raw_upstream(
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: text/plain\r\n"
        b"Connection: close, X-Hop\r\n"
        b"X-Hop: secret\r\n"
        b"Keep-Alive: timeout=5\r\n"
        b"Proxy-Authenticate: Basic realm=x\r\n"
        b"Trailer: X-Sum\r\n"
        b"Upgrade: example/1\r\n"
        b"Transfer-Encoding: chunked\r\n"
        b"Set-Cookie: a=1\r\n"
        b"Set-Cookie: b=2\r\n"
        b"X-End: kept\r\n"
        b"\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    try:
        proxy = await make_proxy(url)
        async with proxy.get("/") as resp:
            assert resp.status == 200
            assert await resp.read() == b"hello world"
            for name in ("X-Hop", "Keep-Alive", "Proxy-Authenticate", "Trailer", "Upgrade"):
                assert name not in resp.headers, name
            assert resp.headers.get("Connection", "keep-alive").lower() != "close, x-hop"
            assert resp.headers.getall("Set-Cookie") == ["a=1", "b=2"]
            assert resp.headers["X-End"] == "kept"
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("code", [200, 201, 204, 302, 304, 400, 404, 418, 500, 503])
async def test_status_codes_pass_through(proxy: Client, code: int) -> None:
    async with proxy.post(f"/status/{code}", allow_redirects=False) as resp:
        assert resp.status == code
        assert resp.headers["X-Status"] == str(code)
        body = await resp.read()
    if code in (204, 304):
        assert body == b""
    else:
        assert body == f"status {code}".encode()
    if code == 302:
        assert resp.headers["Location"] == "/elsewhere?x=1"


async def test_sse_events_arrive_before_upstream_finishes(
    proxy: Client, upstream: Upstream
) -> None:
    async with proxy.get("/sse") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"

        async def read_event() -> bytes:
            event = b""
            while not event.endswith(b"\n\n"):
                line = await resp.content.readline()
                assert line, "stream ended early"
                event += line
            return event

        first = await asyncio.wait_for(read_event(), 5)
        assert first == SSE_EVENTS[0]
        assert not upstream.sse_finished.is_set()  # the upstream is still holding the stream
        upstream.sse_release.set()
        second = await asyncio.wait_for(read_event(), 5)
        assert second == SSE_EVENTS[1]
        assert await resp.content.read() == b""
    assert upstream.sse_finished.is_set()


async def test_large_upload_streams_without_buffering(proxy: Client) -> None:
    total = 200 * 1024 * 1024
    block = os.urandom(1024 * 1024)
    proc = psutil.Process()
    baseline = proc.memory_info().rss
    peak = baseline
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, proc.memory_info().rss)
            await asyncio.sleep(0.02)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(total // len(block)):
            yield block

    expected = hashlib.sha256()
    for _ in range(total // len(block)):
        expected.update(block)

    sampler = asyncio.create_task(sample())
    try:
        async with proxy.post("/upload", data=body()) as resp:
            result = await resp.json()
    finally:
        done.set()
        await sampler
    assert result["body_len"] == total
    assert result["body_sha256"] == expected.hexdigest()
    growth = peak - baseline
    assert growth < 64 * 1024 * 1024, f"RSS grew by {growth / 2**20:.0f} MiB"


async def test_gzip_body_passes_byte_for_byte(proxy: Client) -> None:
    url = proxy.make_url("/gzip")
    async with (
        aiohttp.ClientSession(auto_decompress=False) as raw,
        raw.get(url, headers={"Accept-Encoding": "gzip"}) as resp,
    ):
        assert resp.headers["Content-Encoding"] == "gzip"
        assert resp.headers["X-Accept-Encoding-Seen"] == "gzip"
        assert resp.headers["Content-Length"] == str(len(GZIP_PAYLOAD))
        assert await resp.read() == GZIP_PAYLOAD


async def test_gzip_request_body_is_not_decompressed(proxy: Client) -> None:
    payload = gzip.compress(b"x" * 100_000)
    async with proxy.post("/upload", data=payload, headers={"Content-Encoding": "gzip"}) as resp:
        body = await resp.json()
    assert headers_of(body)["content-encoding"] == ["gzip"]
    assert body["body_len"] == len(payload)
    assert body["body_sha256"] == hashlib.sha256(payload).hexdigest()


async def test_upstream_down_is_502_problem(make_proxy: MakeProxy) -> None:
    proxy = await make_proxy(f"http://127.0.0.1:{free_port()}")
    async with proxy.get("/anything", headers={"X-Request-Id": "req-1"}) as resp:
        assert resp.status == 502
        assert resp.content_type == "application/problem+json"
        assert resp.headers["X-Request-Id"] == "req-1"
        problem = await resp.json(content_type=None)
    assert set(problem) == {"type", "title", "status", "detail", "instance", "request_id"}
    assert problem["instance"] == "/anything" and problem["request_id"] == "req-1"
    assert problem["status"] == 502
    assert problem["type"].endswith("/upstream-unavailable")
    assert "Traceback" not in json.dumps(problem)


async def test_slow_upstream_is_504_problem(upstream: Upstream, make_proxy: MakeProxy) -> None:
    proxy = await make_proxy(upstream.url, read_timeout=0.3)
    # No clock: the upstream answers 200 after 3 s, so a 504 can only be the read timeout
    # ending the call before that answer; the 60 s default would have passed the 200 on.
    async with proxy.get("/slow", params={"delay": "3"}) as resp:
        assert resp.status == 504
        assert resp.content_type == "application/problem+json"
        problem = await resp.json(content_type=None)
    assert not upstream.slow_answered.is_set()
    assert problem["status"] == 504
    assert problem["type"].endswith("/upstream-timeout")
    assert set(problem) == {"type", "title", "status", "detail", "instance", "request_id"}


async def test_traceparent_passes_and_request_id_added(proxy: Client) -> None:
    sent = {"traceparent": TRACEPARENT, "tracestate": "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"}
    async with proxy.get("/trace", headers=sent) as resp:
        body = await resp.json()
        response_id = resp.headers["X-Request-Id"]
    got = headers_of(body)
    assert got["traceparent"] == [TRACEPARENT]
    assert got["tracestate"] == [sent["tracestate"]]
    assert got["x-request-id"] == [response_id]
    assert uuid.UUID(response_id).version == 4


async def test_request_id_preserved(proxy: Client) -> None:
    async with proxy.get("/trace", headers={"X-Request-Id": "abc-123"}) as resp:
        body = await resp.json()
        assert resp.headers["X-Request-Id"] == "abc-123"
    assert headers_of(body)["x-request-id"] == ["abc-123"]


async def test_keep_alive_pool_reuses_upstream_connections(proxy: Client) -> None:
    for _ in range(5):
        async with proxy.get("/peer") as resp:
            await resp.read()
    assert proxy.app is not None
    connector = proxy.app[PROXY].session.connector
    assert isinstance(connector, aiohttp.TCPConnector)
    assert connector.limit == 100
    # five sequential calls went over one pooled keep-alive connection, now idle in the pool
    idle = sum(len(v) for v in connector._conns.values())
    assert idle == 1


def test_filter_hop_by_hop_drops_connection_tokens() -> None:
    h = CIMultiDict(
        [
            ("Connection", "X-A, x-b"),
            ("Connection", "close"),
            ("X-A", "1"),
            ("X-B", "2"),
            ("X-C", "3"),
        ]
    )
    assert list(filter_hop_by_hop(h).items()) == [("X-C", "3")]


def test_bad_upstream_rejected() -> None:
    with pytest.raises(ValueError):
        create_proxy_app("ftp://example")
    with pytest.raises(ValueError):
        create_proxy_app("http://127.0.0.1:1/?q=1")


async def test_upstream_failure_mid_response_truncates(make_proxy: MakeProxy) -> None:
    server, url = await _raw_upstream(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"  # then hangs up
    )
    try:
        proxy = await make_proxy(url)
        async with proxy.get("/") as resp:
            assert resp.status == 200
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()
    finally:
        server.close()
        await server.wait_closed()
