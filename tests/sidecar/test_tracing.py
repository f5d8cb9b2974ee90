"""Sidecar tracing: W3C trace-context continuation and propagation, span trees, OTLP export to a
real HTTP receiver."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from sidecar import tracing
from tests.support.servers import free_port

TRACEPARENT_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"

OTEL_ENV = (
    tracing.ENV_OTLP_ENDPOINT,
    tracing.ENV_OTLP_TRACES_ENDPOINT,
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_SDK_DISABLED",
)


@pytest.fixture(autouse=True)
def clean_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def exported() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = tracing.setup_tracing(exporter=exporter)
    yield provider, exporter
    tracing.shutdown(provider)


def test_incoming_traceparent_is_continued(
    exported: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = exported
    headers = CIMultiDict(
        {"Traceparent": f"00-{PARENT_TRACE}-{PARENT_SPAN}-01", "Tracestate": "vendor=abc"}
    )
    ctx = tracing.extract(headers)
    tracer = provider.get_tracer(tracing.TRACER_NAME)
    with tracer.start_as_current_span("sidecar", context=ctx, kind=trace.SpanKind.SERVER) as span:
        assert tracing.trace_id_hex(span) == PARENT_TRACE
    (finished,) = exporter.get_finished_spans()
    assert format(finished.context.trace_id, "032x") == PARENT_TRACE
    assert finished.parent is not None and finished.parent.is_remote
    assert format(finished.parent.span_id, "016x") == PARENT_SPAN
    assert finished.context.span_id != finished.parent.span_id
    assert finished.context.trace_state.get("vendor") == "abc"
    assert finished.resource.attributes["service.name"] == "greenlang-sidecar"


def test_inject_writes_the_child_span_for_the_upstream_hop(
    exported: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, _ = exported
    tracer = provider.get_tracer(tracing.TRACER_NAME)
    ctx = tracing.extract(
        {"traceparent": f"00-{PARENT_TRACE}-{PARENT_SPAN}-01", "tracestate": "vendor=abc"}
    )
    with (
        tracer.start_as_current_span("sidecar", context=ctx),
        tracer.start_as_current_span("upstream", kind=trace.SpanKind.CLIENT) as child,
    ):
        # the incoming header was copied to the upstream request: inject must replace it
        upstream_headers = CIMultiDict({"traceparent": f"00-{PARENT_TRACE}-{PARENT_SPAN}-01"})
        tracing.inject(upstream_headers)
        explicit: dict[str, str] = {}
        tracing.inject(explicit, trace.set_span_in_context(child))
    assert upstream_headers.getall("traceparent") == [explicit["traceparent"]]
    match = TRACEPARENT_RE.match(explicit["traceparent"])
    assert match is not None, explicit
    assert match.group(1) == PARENT_TRACE
    assert match.group(2) == tracing.span_id_hex(child) != PARENT_SPAN
    assert match.group(3) == "01"  # the caller's flags: sampled
    assert explicit["tracestate"] == "vendor=abc"


def test_root_span_with_children_and_attributes(
    exported: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = exported
    tracer = provider.get_tracer(tracing.TRACER_NAME)
    with tracer.start_as_current_span(
        "POST /v1/calculate",
        context=tracing.extract({}),
        kind=trace.SpanKind.SERVER,
        attributes={
            tracing.AGENT_ID: "cbam-calculator",
            tracing.AGENT_VERSION: "1.2.0",
            tracing.HTTP_REQUEST_METHOD: "POST",
            tracing.URL_PATH: "/v1/calculate",
        },
    ) as root:
        for name in ("policy.pre", "upstream", "policy.post"):
            with tracer.start_as_current_span(name) as child:
                child.set_attribute(tracing.GOVERNANCE_DECISION, "allow")
        root.set_attribute(tracing.HTTP_RESPONSE_STATUS_CODE, 200)
        tracing.set_usage(root, Usage(total=150, prompt=100, completion=50, model="gpt-4o"))

    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"POST /v1/calculate", "policy.pre", "upstream", "policy.post"}
    root_span = spans["POST /v1/calculate"]
    assert root_span.parent is None
    for name in ("policy.pre", "upstream", "policy.post"):
        child_span = spans[name]
        assert child_span.parent is not None
        assert child_span.parent.span_id == root_span.context.span_id
        assert child_span.context.trace_id == root_span.context.trace_id
        assert child_span.attributes is not None
        assert child_span.attributes[tracing.GOVERNANCE_DECISION] == "allow"
    assert dict(root_span.attributes or {}) == {
        "agent.id": "cbam-calculator",
        "agent.version": "1.2.0",
        "http.request.method": "POST",
        "url.path": "/v1/calculate",
        "http.response.status_code": 200,
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 50,
        "gen_ai.usage.total_tokens": 150,
        "gen_ai.response.model": "gpt-4o",
    }


@dataclass(frozen=True)
class Usage:
    total: int
    prompt: int | None
    completion: int | None
    model: str | None


def test_usage_attributes_leave_out_absent_values() -> None:
    assert tracing.usage_attributes(42) == {"gen_ai.usage.total_tokens": 42}
    assert tracing.usage_attributes(None, model="") == {}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"traceparent": "garbage"},
        {"traceparent": f"00-{'0' * 32}-{PARENT_SPAN}-01"},  # all-zero trace id is invalid
        {"traceparent": f"00-{PARENT_TRACE}-{PARENT_SPAN}"},  # flags missing
    ],
)
def test_missing_or_malformed_traceparent_starts_a_new_root(
    exported: tuple[TracerProvider, InMemorySpanExporter], headers: dict[str, str]
) -> None:
    provider, exporter = exported
    tracer = provider.get_tracer(tracing.TRACER_NAME)
    with tracer.start_as_current_span("stale-current-span"):
        # extract never builds on the current context, so the stale span is not the parent
        ctx = tracing.extract(headers)
        with tracer.start_as_current_span("request", context=ctx) as span:
            trace_id = tracing.trace_id_hex(span)
    assert trace_id is not None and re.fullmatch(r"[0-9a-f]{32}", trace_id)
    assert trace_id != PARENT_TRACE
    request = next(s for s in exporter.get_finished_spans() if s.name == "request")
    assert request.parent is None


def test_ids_of_invalid_and_unsampled_spans() -> None:
    assert tracing.trace_id_hex(None) is None
    assert tracing.trace_id_hex(trace.INVALID_SPAN) is None
    assert tracing.span_id_hex(trace.INVALID_SPAN) is None
    headers: dict[str, str] = {}
    tracing.inject(headers, tracing.extract({}))  # no span in the context: nothing written
    assert headers == {}

    # not sampled: nothing recorded, but ids exist for logs/audit and the upstream hop
    provider = tracing.setup_tracing(sampler=ALWAYS_OFF)
    span = provider.get_tracer(tracing.TRACER_NAME).start_span("request")
    assert not span.is_recording()
    trace_id = tracing.trace_id_hex(span)
    assert trace_id is not None and len(trace_id) == 32
    tracing.inject(headers, trace.set_span_in_context(span))
    match = TRACEPARENT_RE.match(headers["traceparent"])
    assert match is not None, headers
    assert match.group(1) == trace_id and match.group(2) == tracing.span_id_hex(span)
    assert int(match.group(3), 16) & 0x01 == 0  # sampled bit clear (0x02: W3C random trace id)
    span.end()
    tracing.shutdown(provider)


def sampled(traceparent: str) -> bool:
    match = TRACEPARENT_RE.match(traceparent)
    assert match is not None, traceparent
    return bool(int(match.group(3), 16) & 0x01)


def upstream_traceparent(provider: TracerProvider, incoming: dict[str, str]) -> tuple[bool, str]:
    tracer = provider.get_tracer(tracing.TRACER_NAME)
    with tracer.start_as_current_span("request", context=tracing.extract(incoming)) as span:
        assert tracing.trace_id_hex(span) is not None  # ids for logs and audit, always
        headers: dict[str, str] = {}
        tracing.inject(headers)
        return span.is_recording(), headers["traceparent"]


def test_no_exporter_records_only_what_the_caller_sampled() -> None:
    assert not tracing.otlp_configured()
    provider = tracing.setup_tracing()
    assert provider.sampler is tracing.UNEXPORTED_SAMPLER
    assert provider._active_span_processor._span_processors == ()  # nothing exported

    recording, traceparent = upstream_traceparent(provider, {})
    assert not recording and not sampled(traceparent)

    caller_sampled = {"traceparent": f"00-{PARENT_TRACE}-{PARENT_SPAN}-01"}
    recording, traceparent = upstream_traceparent(provider, caller_sampled)
    assert recording and sampled(traceparent)  # the caller's sampled flag reaches the agent
    assert traceparent.startswith(f"00-{PARENT_TRACE}-") and PARENT_SPAN not in traceparent

    caller_unsampled = {"traceparent": f"00-{PARENT_TRACE}-{PARENT_SPAN}-00"}
    recording, traceparent = upstream_traceparent(provider, caller_unsampled)
    assert not recording and not sampled(traceparent)
    assert traceparent.startswith(f"00-{PARENT_TRACE}-")
    tracing.shutdown(provider)


def test_sampler_environment_applies_without_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    provider = tracing.setup_tracing()
    recording, traceparent = upstream_traceparent(provider, {})
    assert recording and sampled(traceparent)
    tracing.shutdown(provider)


def test_exported_roots_are_sampled_by_default(
    exported: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = exported
    recording, traceparent = upstream_traceparent(provider, {})
    assert recording and sampled(traceparent)
    assert [s.name for s in exporter.get_finished_spans()] == ["request"]


def test_service_name_from_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    exporter = InMemorySpanExporter()
    monkeypatch.setenv("OTEL_SERVICE_NAME", "sidecar-cbam")
    provider = tracing.setup_tracing(exporter=exporter)
    provider.get_tracer(tracing.TRACER_NAME).start_span("x").end()
    assert exporter.get_finished_spans()[0].resource.attributes["service.name"] == "sidecar-cbam"
    tracing.shutdown(provider)


def test_batched_given_exporter_is_flushed_by_shutdown() -> None:
    exporter = InMemorySpanExporter()
    provider = tracing.setup_tracing("other-service", exporter=exporter, batch=True)
    provider.get_tracer(tracing.TRACER_NAME).start_span("queued").end()
    tracing.shutdown(provider)
    (span,) = exporter.get_finished_spans()
    assert span.name == "queued"
    assert span.resource.attributes["service.name"] == "other-service"


@dataclass
class Collector:
    url: str
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    """A real OTLP/HTTP receiver: accepts POST /v1/traces and keeps what arrived."""
    port = free_port()
    state = Collector(url=f"http://127.0.0.1:{port}")

    async def receive(request: web.Request) -> web.Response:
        state.requests.append(
            (request.path, request.headers.get("Content-Type", ""), await request.read())
        )
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", receive)
    app.router.add_post("/custom/traces", receive)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    yield state
    await server.close()


@pytest.mark.parametrize(
    ("env", "suffix", "path"),
    [
        (tracing.ENV_OTLP_ENDPOINT, "", "/v1/traces"),  # base URL: /v1/traces appended
        (tracing.ENV_OTLP_TRACES_ENDPOINT, "/custom/traces", "/custom/traces"),  # used as is
    ],
)
async def test_otlp_exporter_from_environment_sends_to_receiver(
    collector: Collector, monkeypatch: pytest.MonkeyPatch, env: str, suffix: str, path: str
) -> None:
    monkeypatch.setenv(env, collector.url + suffix)
    assert tracing.otlp_configured()
    provider = tracing.setup_tracing()
    tracer = provider.get_tracer(tracing.TRACER_NAME)
    ctx = tracing.extract({"traceparent": f"00-{PARENT_TRACE}-{PARENT_SPAN}-01"})
    with tracer.start_as_current_span("sidecar", context=ctx) as span:
        span.set_attribute(tracing.AGENT_ID, "cbam-calculator")
    assert collector.requests == []  # batched: nothing sent on the request path
    # the exporter posts from the processor's thread (blocking I/O): keep this loop serving
    assert await asyncio.to_thread(provider.force_flush, 10_000)
    await asyncio.to_thread(tracing.shutdown, provider)

    assert len(collector.requests) == 1
    got_path, content_type, body = collector.requests[0]
    assert got_path == path
    assert content_type == "application/x-protobuf"
    message = ExportTraceServiceRequest()
    message.ParseFromString(body)
    (resource_spans,) = message.resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == "greenlang-sidecar"
    (exported_span,) = [s for ss in resource_spans.scope_spans for s in ss.spans]
    assert exported_span.name == "sidecar"
    assert exported_span.trace_id.hex() == PARENT_TRACE
    assert exported_span.parent_span_id.hex() == PARENT_SPAN
    attrs = {a.key: a.value.string_value for a in exported_span.attributes}
    assert attrs == {"agent.id": "cbam-calculator"}
