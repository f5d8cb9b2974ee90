"""The agent host's observability: GET /metrics, one invocation span per run() under the caller's
traceparent, artifacts reaching the SDK through current() or run(inputs, obs); and the host as a
real process exporting its spans over OTLP (to a real HTTP receiver) when the variable is set."""

from __future__ import annotations

import asyncio
import textwrap
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from agent_sdk.artifact import load_run
from agent_sdk.host import AgentHost
from agent_sdk.observability import AgentObservability
from kernel import tracing
from tests.e2e.stack import AgentHostProcess
from tests.support.polling import wait_until
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
CLASSIFIER = ROOT / "examples" / "agents" / "cbam-cn-code-classifier" / "artifact.py"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"
AGENT = "cbam-cn-code-classifier"
Client = TestClient[Any, Any]


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = tracing.setup_tracing("greenlang-agent", exporter=exporter)
    exporter.provider = provider  # type: ignore[attr-defined]
    yield exporter
    tracing.shutdown(provider)


@pytest.fixture
async def serve(
    exporter: InMemorySpanExporter,
) -> AsyncIterator[Callable[..., Awaitable[Client]]]:
    made: list[tuple[Client, AgentHost]] = []

    async def make(run: Callable[..., Any], **kw: Any) -> Client:
        obs = AgentObservability(AGENT, "1.0.0", tracer_provider=exporter.provider)  # type: ignore[attr-defined]
        host = AgentHost(run, observability=obs, **kw)
        client: Client = TestClient(TestServer(host.app(), host="127.0.0.1", port=free_port()))
        await client.start_server()
        made.append((client, host))
        return client

    yield make
    for client, host in made:
        await client.close()
        host.close()


def write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "artifact.py"
    path.write_text(textwrap.dedent(source))
    return path


async def metrics(client: Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.content_type == "text/plain"
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(await resp.text())
        for s in family.samples
    }


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(({"agent_id": AGENT, "version": "1.0.0"} | labels).items())


async def test_an_example_agent_traces_its_tool_and_counts_its_cache(
    serve: Callable[..., Awaitable[Client]], exporter: InMemorySpanExporter
) -> None:
    client = await serve(load_run(CLASSIFIER))
    body = {"cn_codes": ["72081000", "72081000", "01012100"]}
    resp = await client.post("/v1/run", json=body, headers={"traceparent": TRACEPARENT})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["in_scope"] == ["72081000"]

    spans = {s.name: s for s in exporter.get_finished_spans()}
    root = spans[f"invoke_agent {AGENT}"]
    tool = spans["execute_tool classify_cn_code"]
    assert format(root.context.trace_id, "032x") == TRACE
    assert tool.parent is not None and tool.parent.span_id == root.context.span_id
    seen = await metrics(client)
    assert seen[key("agent_invocations_total", status="success")] == 1
    assert seen[key("agent_invocation_duration_seconds_count")] == 1
    assert seen[key("agent_cache_lookups_total", result="miss")] == 2  # two distinct codes
    assert seen[key("agent_cache_lookups_total", result="hit")] == 1  # the repeated one
    assert seen[key("agent_cache_hit_ratio")] == pytest.approx(1 / 3)


async def test_run_with_a_second_parameter_gets_the_observability_object(
    serve: Callable[..., Awaitable[Client]], tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    source = """
        from agent_sdk.observability import current

        def run(inputs, obs):
            assert obs is current()
            with obs.llm_call(model="gpt-4o") as call:
                call.record_tokens(input_tokens=7, output_tokens=3)
            return {"agent": obs.agent_id}
    """
    client = await serve(load_run(write(tmp_path, source)))
    resp = await client.post("/v1/run", json={})
    assert resp.status == 200 and await resp.json() == {"agent": AGENT}
    assert (await metrics(client))[key("agent_tokens_used_total", model="gpt-4o")] == 10
    [llm] = [s for s in exporter.get_finished_spans() if s.name == "chat gpt-4o"]
    assert llm.parent is not None  # under the invocation span, though run() ran in a thread


async def test_failures_and_timeouts_count_as_server_errors(
    serve: Callable[..., Awaitable[Client]], exporter: InMemorySpanExporter
) -> None:
    release = threading.Event()

    def run(inputs: dict[str, Any]) -> dict[str, Any]:
        if inputs.get("hang"):
            release.wait(10)
        if inputs.get("fail"):
            raise RuntimeError("boom")
        return {"ok": True} if not inputs.get("bad") else {"nan": float("nan")}

    client = await serve(run, timeout_s=0.2)
    try:
        assert (await client.post("/v1/run", json={"fail": True})).status == 500
        assert (await client.post("/v1/run", json={"bad": True})).status == 500
        assert (await client.post("/v1/run", json={"hang": True})).status == 504
        assert (await client.post("/v1/run", json={})).status == 200
        assert (await client.post("/v1/run", data=b"[]")).status == 400  # never reached run()
    finally:
        release.set()
    seen = await metrics(client)
    assert seen[key("agent_invocations_total", status="server_error")] == 3
    assert seen[key("agent_invocations_total", status="success")] == 1
    errors = sorted(
        str((s.attributes or {}).get("error.type"))
        for s in exporter.get_finished_spans()
        if s.name.startswith("invoke_agent") and not s.status.is_ok
    )
    assert errors == ["RuntimeError", "bad_result", "timeout"]


async def test_metrics_speak_openmetrics_when_asked(
    serve: Callable[..., Awaitable[Client]],
) -> None:
    client = await serve(load_run(CLASSIFIER))
    resp = await client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert resp.status == 200
    assert resp.content_type == "application/openmetrics-text"
    assert (await resp.text()).rstrip().endswith("# EOF")


@pytest.fixture
async def otlp_receiver() -> AsyncIterator[tuple[str, list[ExportTraceServiceRequest]]]:
    """A real HTTP server that decodes OTLP/protobuf trace exports."""
    received: list[ExportTraceServiceRequest] = []

    async def traces(request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        received.append(message)
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", received
    await runner.cleanup()


def exported_names(received: list[ExportTraceServiceRequest], trace_id: str) -> set[str]:
    return {
        span.name
        for message in received
        for rs in message.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
        if span.trace_id.hex() == trace_id
    }


async def test_the_host_process_exports_spans_over_otlp_when_configured(
    otlp_receiver: tuple[str, list[ExportTraceServiceRequest]], tmp_path: Path
) -> None:
    url, received = otlp_receiver
    host = AgentHostProcess(
        tmp_path,
        CLASSIFIER,
        OTEL_EXPORTER_OTLP_ENDPOINT=url,
        OTEL_BSP_SCHEDULE_DELAY="100",
        GREENLANG_AGENT_ID=AGENT,
        GREENLANG_AGENT_VERSION="2.0.0",
    )
    await asyncio.to_thread(host.start)
    try:
        async with httpx.AsyncClient(base_url=host.url) as http:
            resp = await http.post(
                "/v1/run", json={"cn_codes": ["72081000"]}, headers={"traceparent": TRACEPARENT}
            )
            assert resp.status_code == 200
            text = (await http.get("/metrics")).text
        line = f'agent_invocations_total{{agent_id="{AGENT}",status="success",version="2.0.0"}} 1.0'
        assert line in text.splitlines()
        wanted = {f"invoke_agent {AGENT}", "execute_tool classify_cn_code"}

        async def all_exported() -> bool:
            return wanted <= exported_names(received, TRACE)

        await wait_until(all_exported, limit=30, what="the agent's spans at the receiver")
        names = {
            a.value.string_value
            for m in received
            for rs in m.resource_spans
            for a in rs.resource.attributes
            if a.key == "service.name"
        }
        assert names == {"greenlang-agent"}
    finally:
        await asyncio.to_thread(host.close)
