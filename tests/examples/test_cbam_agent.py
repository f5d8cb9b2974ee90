"""The CBAM example agent (examples/cbam_agent/agent.py) as a real process on a free port."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import psutil
import pytest
from aiohttp.test_utils import TestClient, TestServer

from registry.catalog.spec import parse_spec
from tests.support.servers import ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
AGENT_DIR = ROOT / "examples" / "cbam_agent"
AGENT_PY = AGENT_DIR / "agent.py"
MB = 1024 * 1024


def load_agent_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cbam_example_agent", AGENT_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


agent = load_agent_module()


class CbamAgentProcess(ServerProcess):
    name = "cbam-agent"
    health_path = "/healthz"

    def command(self) -> list[str]:
        return [sys.executable, str(AGENT_PY), "--host", "127.0.0.1", "--port", str(self.port)]

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def wait(self, timeout: float) -> int:
        assert self._proc is not None
        return self._proc.wait(timeout)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CbamAgentProcess]:
    with CbamAgentProcess(tmp_path_factory.mktemp("cbam-agent")) as proc:
        yield proc


@pytest.fixture
async def http(server: CbamAgentProcess) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=server.url) as session:
        yield session


DECLARANT = {"name": "Acme Steel Imports GmbH", "email": "customs@acme-steel.example",
             "iban": "DE89370400440532013000"}  # fmt: skip


def request_body(goods: list[dict[str, Any]]) -> bytes:
    return json.dumps({"goods": goods, "declarant": DECLARANT}).encode()


async def test_healthz(http: aiohttp.ClientSession) -> None:
    async with http.get("/healthz") as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok"}


async def test_factors_table(http: aiohttp.ClientSession) -> None:
    async with http.get("/v1/factors") as resp:
        assert resp.status == 200
        body = await resp.json()
    by_prefix = {f["prefix"]: f["sector"] for f in body["factors"]}
    assert by_prefix == {
        "72": "iron_steel",
        "76": "aluminium",
        "2523": "cement",
        "31": "fertilisers",
        "2804": "hydrogen",
        "2716": "electricity",
    }
    assert all(f["direct"] >= 0 and f["indirect"] >= 0 for f in body["factors"])


async def test_calculate_per_good_totals_declarant_and_usage(http: aiohttp.ClientSession) -> None:
    goods = [
        {"cn_code": "72081000", "quantity_tonnes": 12.5, "country_of_origin": "CN"},
        {"cn_code": "76011000", "quantity_tonnes": 2, "country_of_origin": "IN",
         "direct_emissions_tco2_per_t": 1.2},
        {"cn_code": "25231000", "quantity_tonnes": 100, "country_of_origin": "TR"},
        {"cn_code": "31021010", "quantity_tonnes": 40, "country_of_origin": "EG"},
        {"cn_code": "28041000", "quantity_tonnes": 1.5, "country_of_origin": "NO"},
        {"cn_code": "27160000", "quantity_tonnes": 1000, "country_of_origin": "RS"},
    ]  # fmt: skip
    body = request_body(goods)
    async with http.post(
        "/v1/calculate", data=body, headers={"Content-Type": "application/json"}
    ) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        assert "X-Tokens-Used" not in resp.headers  # JSON answers report usage in the body
        result = await resp.json()
    lines = result["goods"]
    assert [g["sector"] for g in lines] == [
        "iron_steel", "aluminium", "cement", "fertilisers", "hydrogen", "electricity",
    ]  # fmt: skip
    # 12.5 t hot-rolled steel at the defaults 1.85 + 0.30 tCO2e/t
    assert (lines[0]["direct_tco2e"], lines[0]["indirect_tco2e"], lines[0]["embedded_tco2e"]) == (
        23.125,
        3.75,
        26.875,
    )
    assert lines[0]["source"] == "default"
    # 2 t aluminium, actual direct 1.2, default indirect 6.90
    assert (lines[1]["direct_tco2e"], lines[1]["indirect_tco2e"]) == (2.4, 13.8)
    assert lines[1]["source"] == "actual"
    assert lines[2]["embedded_tco2e"] == 90.0  # 100 t cement x 0.90
    assert lines[5]["embedded_tco2e"] == 450.0  # 1000 MWh x 0.45
    assert result["totals"]["embedded_tco2e"] == pytest.approx(
        sum(g["embedded_tco2e"] for g in lines), abs=1e-6
    )
    assert result["totals"]["embedded_tco2e"] == pytest.approx(674.275, abs=1e-9)
    assert result["declarant"] == DECLARANT
    assert result["model"] == "gl-cbam-embedded-emissions-1"
    prompt = math.ceil(len(body) / 4)
    completion = 32 + 48 * len(goods)
    assert result["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    assert result["usage"] == agent.calculate_usage(len(body), len(goods))


async def test_calculate_is_deterministic(http: aiohttp.ClientSession) -> None:
    body = request_body([{"cn_code": "7208", "quantity_tonnes": 1, "country_of_origin": "CN"}])
    answers = []
    for _ in range(2):
        async with http.post("/v1/calculate", data=body) as resp:
            answers.append(await resp.read())
    assert answers[0] == answers[1]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", None),
        (b"[1, 2]", ""),
        (json.dumps({"declarant": DECLARANT}).encode(), "goods"),
        (json.dumps({"goods": [], "declarant": DECLARANT}).encode(), "goods"),
        (request_body([{"cn_code": "0101", "quantity_tonnes": 1, "country_of_origin": "CN"}]),
         "goods[0].cn_code"),
        (request_body([{"cn_code": "72ab", "quantity_tonnes": 1, "country_of_origin": "CN"}]),
         "goods[0].cn_code"),
        (request_body([{"cn_code": "7208", "quantity_tonnes": -1, "country_of_origin": "CN"}]),
         "goods[0].quantity_tonnes"),
        (request_body([{"cn_code": "7208", "quantity_tonnes": True, "country_of_origin": "CN"}]),
         "goods[0].quantity_tonnes"),
        (request_body([{"cn_code": "7208", "quantity_tonnes": 1, "country_of_origin": "china"}]),
         "goods[0].country_of_origin"),
        (request_body([{"cn_code": "7208", "quantity_tonnes": 1, "country_of_origin": "CN",
                        "direct_emissions_tco2_per_t": "high"}]),
         "goods[0].direct_emissions_tco2_per_t"),
        (json.dumps({"goods": [{"cn_code": "7208", "quantity_tonnes": 1,
                                "country_of_origin": "CN"}]}).encode(), "declarant"),
        (json.dumps({"goods": [{"cn_code": "7208", "quantity_tonnes": 1,
                                "country_of_origin": "CN"}],
                     "declarant": {"email": "x@y.example"}}).encode(), "declarant.name"),
    ],
)  # fmt: skip
async def test_invalid_input_is_problem_json(
    http: aiohttp.ClientSession, body: bytes, field: str | None
) -> None:
    async with http.post("/v1/calculate", data=body) as resp:
        assert resp.status == 400
        assert resp.content_type == "application/problem+json"
        problem = await resp.json()
    assert problem["status"] == 400
    assert problem["type"] == "https://greenlang.dev/problems/invalid-input"
    if field is not None:
        assert field in [e["field"] for e in problem["errors"]]


async def test_calculate_body_limit(http: aiohttp.ClientSession) -> None:
    async with http.post("/v1/calculate", data=b" " * (3 * MB)) as resp:
        assert resp.status == 413
        assert resp.content_type == "application/problem+json"


async def test_stream_sends_progress_then_usage_as_they_happen(
    http: aiohttp.ClientSession,
) -> None:
    async with http.get("/v1/stream", params={"events": "3", "delay_ms": "250"}) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/event-stream"
        assert resp.headers["X-Tokens-Used"] == str(16 + 24 * 3)
        text = (await resp.read()).decode()
    events = [e for e in text.split("\n\n") if e]
    assert len(events) == 4
    parsed = []
    for e in events:
        fields = dict(line.split(": ", 1) for line in e.splitlines())
        parsed.append((fields["event"], json.loads(fields["data"])))
    assert [kind for kind, _ in parsed] == ["progress", "progress", "progress", "usage"]
    assert [d["step"] for _, d in parsed[:3]] == [1, 2, 3]
    assert parsed[3][1] == {**agent.stream_usage(3), "model": "gl-cbam-embedded-emissions-1"}
    assert parsed[3][1]["total_tokens"] == int(resp.headers["X-Tokens-Used"])


async def test_stream_is_streamed_not_buffered(http: aiohttp.ClientSession) -> None:
    """The first event is readable while the agent still waits 3 s before the next one: by the
    order of events, not a clock (a buffered stream hands over every event at once)."""
    async with http.get("/v1/stream", params={"events": "2", "delay_ms": "3000"}) as resp:
        first = await resp.content.readuntil(b"\n\n")
        waiting = resp.content.read_nowait()  # no await since: nothing new can have arrived
        resp.close()  # the agent's next write fails and ends its handler
    assert b"event: progress" in first and b'"step": 1' in first
    assert waiting == b""


@pytest.mark.parametrize("query", ["events=0", "events=abc", "delay_ms=-1", "events=101"])
async def test_stream_rejects_bad_query(http: aiohttp.ClientSession, query: str) -> None:
    async with http.get(f"/v1/stream?{query}") as resp:
        assert resp.status == 400
        assert resp.content_type == "application/problem+json"


class RssSampler:
    """Peak resident memory of a process, sampled from a thread while a transfer runs."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.start = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def _pattern(size: int, chunk: int = MB) -> AsyncIterator[bytes]:
    block = hashlib.sha256(b"cbam").digest() * (chunk // 32)
    sent = 0
    while sent < size:
        part = block[: min(chunk, size - sent)]
        sent += len(part)
        yield part
        await asyncio.sleep(0)


def pattern_digest(size: int, chunk: int = MB) -> str:
    block = hashlib.sha256(b"cbam").digest() * (chunk // 32)
    digest = hashlib.sha256()
    sent = 0
    while sent < size:
        part = block[: min(chunk, size - sent)]
        digest.update(part)
        sent += len(part)
    return digest.hexdigest()


async def _drain(resp: aiohttp.ClientResponse) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    async for chunk in resp.content.iter_chunked(256 * 1024):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


async def test_echo_20_mb_with_length_streams_back_byte_for_byte(
    http: aiohttp.ClientSession, server: CbamAgentProcess
) -> None:
    size = 20 * MB
    body = os.urandom(size)
    content_type = "application/x-ndjson; charset=utf-8"
    with RssSampler(server.pid) as rss:
        async with http.post("/v1/echo", data=body, headers={"Content-Type": content_type}) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == content_type
            assert resp.headers["Content-Length"] == str(size)
            assert resp.headers["X-Tokens-Used"] == str(size // 4)
            got_size, got_digest = await _drain(resp)
    assert (got_size, got_digest) == (size, hashlib.sha256(body).hexdigest())
    # streamed in chunks: the agent never held the 20 MB body
    assert rss.peak - rss.start < 8 * MB, f"agent RSS grew by {(rss.peak - rss.start) / MB:.1f} MB"


async def test_echo_chunked_request_gets_chunked_answer(
    http: aiohttp.ClientSession, server: CbamAgentProcess
) -> None:
    size = 20 * MB + 123
    with RssSampler(server.pid) as rss:
        async with http.post(
            "/v1/echo", data=_pattern(size), headers={"Content-Type": "application/octet-stream"}
        ) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "application/octet-stream"
            assert resp.headers.get("Transfer-Encoding") == "chunked"
            assert "X-Tokens-Used" not in resp.headers  # length unknown up front
            got = await _drain(resp)
    assert got == (size, pattern_digest(size))
    assert rss.peak - rss.start < 8 * MB, f"agent RSS grew by {(rss.peak - rss.start) / MB:.1f} MB"


async def test_unknown_route_and_method(http: aiohttp.ClientSession) -> None:
    async with http.get("/v1/nope") as resp:
        assert resp.status == 404
    async with http.get("/v1/calculate") as resp:
        assert resp.status == 405


async def test_create_app_in_process() -> None:
    client = TestClient(TestServer(agent.create_app(model="m-test"), port=free_port()))
    await client.start_server()
    try:
        body = request_body([{"cn_code": "2523", "quantity_tonnes": 10, "country_of_origin": "TR"}])
        async with client.post("/v1/calculate", data=body) as resp:
            result = await resp.json()
        assert result["model"] == "m-test"
        assert result["totals"]["embedded_tco2e"] == 9.0
    finally:
        await client.close()


def test_sigterm_exits_cleanly(tmp_path: Path) -> None:
    proc = CbamAgentProcess(tmp_path).start()
    try:
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.close()


def test_agent_spec_is_a_valid_registry_spec() -> None:
    spec_file = AGENT_DIR.parent / "agents" / "gl-cbam-embedded-emissions" / "agent.yaml"
    spec = parse_spec(spec_file.read_bytes())
    assert spec.agent_id == "gl-cbam-embedded-emissions"
    assert spec.metadata.regulatory_scope == ["CBAM"]
