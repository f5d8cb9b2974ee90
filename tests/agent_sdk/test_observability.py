"""AgentObservability: metrics on its own registry, GenAI spans under the caller's trace, log
events with agent id and version, and current() inside and outside an invocation."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import structlog
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agent_sdk import observability
from agent_sdk.observability import AgentObservability, current
from kernel import tracing

PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{PARENT_TRACE}-{PARENT_SPAN}-01"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = tracing.setup_tracing("test-agent", exporter=exporter)
    yield provider, exporter
    tracing.shutdown(provider)


@pytest.fixture
def obs(spans: tuple[TracerProvider, InMemorySpanExporter]) -> AgentObservability:
    return AgentObservability("cbam-cn-code-classifier", "1.2.0", tracer_provider=spans[0])


def samples(obs: AgentObservability) -> Samples:
    text = generate_latest(obs.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(obs: AgentObservability, name: str, **labels: str) -> float:
    base = {"agent_id": "cbam-cn-code-classifier", "version": "1.2.0"}
    return samples(obs)[(name, tuple(sorted((base | labels).items())))]


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


def test_one_trace_from_the_callers_traceparent_to_tool_and_llm_spans(
    obs: AgentObservability, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    with obs.invocation({"traceparent": TRACEPARENT}) as inv:
        with obs.tool_call("cn_lookup"):
            obs.cache(hit=True)
        with obs.llm_call(model="gpt-4o", provider="openai") as call:
            call.record_tokens(input_tokens=120, output_tokens=30, response_model="gpt-4o-0513")
    assert inv.trace_id == PARENT_TRACE
    found = by_name(spans[1])
    root = found["invoke_agent cbam-cn-code-classifier"]
    tool = found["execute_tool cn_lookup"]
    llm = found["chat gpt-4o"]
    assert root.parent is not None and root.parent.is_remote
    assert format(root.parent.span_id, "016x") == PARENT_SPAN
    assert root.kind is SpanKind.SERVER
    assert (
        root.attributes is not None and root.attributes["gen_ai.operation.name"] == "invoke_agent"
    )
    assert root.attributes["agent.version"] == "1.2.0"
    for child in (tool, llm):
        assert format(child.context.trace_id, "032x") == PARENT_TRACE
        assert child.parent is not None and child.parent.span_id == root.context.span_id
    assert tool.attributes == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "cn_lookup",
    }
    assert [(e.name, dict(e.attributes or {})) for e in tool.events] == [
        ("cache.lookup", {"cache.hit": True})
    ]
    assert llm.kind is SpanKind.CLIENT
    assert dict(llm.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.provider.name": "openai",
        "gen_ai.response.model": "gpt-4o-0513",
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 30,
    }


def test_invocations_latency_and_tokens_use_the_plans_names_and_labels(
    obs: AgentObservability,
) -> None:
    for _ in range(2):
        with obs.invocation(), obs.llm_call(model="gpt-4o") as call:
            call.record_tokens(input_tokens=10, output_tokens=5)
    with pytest.raises(KeyError), obs.invocation():
        raise KeyError("no such code")
    assert value(obs, "agent_invocations_total", status="success") == 2
    assert value(obs, "agent_invocations_total", status="server_error") == 1
    assert value(obs, "agent_invocation_duration_seconds_count") == 3
    assert value(obs, "agent_invocation_duration_seconds_bucket", le="30.0") == 3
    assert value(obs, "agent_tokens_used_total", model="gpt-4o") == 30
    buckets = {
        dict(labels)["le"]
        for (name, labels) in samples(obs)
        if name == "agent_invocation_duration_seconds_bucket"
    }
    assert buckets == {"0.1", "0.5", "1.0", "2.0", "5.0", "10.0", "30.0", "+Inf"}


def test_a_failure_marks_the_span_without_its_message(
    obs: AgentObservability, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    with pytest.raises(ValueError), obs.invocation(), obs.tool_call("parse"):
        raise ValueError("secret input 4711")
    found = by_name(spans[1])
    for name in ("execute_tool parse", "invoke_agent cbam-cn-code-classifier"):
        span = found[name]
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes is not None and span.attributes["error.type"] == "ValueError"
        assert "4711" not in str(span.status.description) and not span.events


def test_cache_lookups_and_hit_ratio(obs: AgentObservability) -> None:
    for hit in (True, True, True, False):
        obs.cache(hit=hit)
    assert value(obs, "agent_cache_lookups_total", result="hit") == 3
    assert value(obs, "agent_cache_lookups_total", result="miss") == 1
    assert value(obs, "agent_cache_hit_ratio") == 0.75


def test_hit_ratio_agrees_with_the_counters_under_threads(obs: AgentObservability) -> None:
    def work(hit: bool) -> None:
        for _ in range(500):
            obs.cache(hit=hit)

    threads = [threading.Thread(target=work, args=(i % 4 != 0,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert value(obs, "agent_cache_lookups_total", result="hit") == 3000
    assert value(obs, "agent_cache_hit_ratio") == 0.75


def test_two_objects_in_one_process_do_not_share_series() -> None:
    a, b = AgentObservability("a", "1"), AgentObservability("b", "1")
    a.cache(hit=True)
    lookups = {k: v for k, v in samples(b).items() if k[0] == "agent_cache_lookups_total"}
    # b's series exist from the start (at 0, so rate() works) and carry b's labels only
    assert lookups == {
        ("agent_cache_lookups_total", (("agent_id", "b"), ("result", r), ("version", "1"))): 0.0
        for r in ("hit", "miss")
    }
    assert not [k for k in samples(b) if k[0] == "agent_cache_hit_ratio"]  # no lookup yet


def test_log_events_carry_agent_id_and_version(obs: AgentObservability) -> None:
    with structlog.testing.capture_logs() as logs:
        with obs.invocation(traceparent=TRACEPARENT):
            obs.log_event("classified", codes=3)
    classified, done = logs
    assert classified == {
        "event": "classified",
        "log_level": "info",
        "agent_id": "cbam-cn-code-classifier",
        "version": "1.2.0",
        "codes": 3,
    }
    assert done["event"] == "agent.invocation" and done["outcome"] == "success"
    assert done["agent_id"] == "cbam-cn-code-classifier" and done["version"] == "1.2.0"
    assert done["trace_id"] == PARENT_TRACE


def test_current_is_the_invocations_object_and_a_fallback_outside(
    obs: AgentObservability, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(observability, "_fallback", None)
    monkeypatch.setenv("GREENLANG_AGENT_ID", "from-env")
    with obs.invocation():
        assert current() is obs
    outside = current()
    assert outside is not obs and outside.agent_id == "from-env"
    assert current() is outside
    with outside.tool_call("noop"):  # the global (no-op) tracer: nothing to configure
        outside.cache(hit=False)


def test_negative_token_counts_are_refused(obs: AgentObservability) -> None:
    with obs.llm_call(model="m") as call, pytest.raises(ValueError):
        call.record_tokens(input_tokens=-1)


def test_log_lines_inside_an_invocation_carry_its_trace(obs: AgentObservability) -> None:
    plain = structlog.get_logger("artifact")
    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars]
    ) as logs:
        with obs.invocation(traceparent=TRACEPARENT) as inv:
            plain.info("artifact line")
        plain.info("after")
    line = logs[0]
    assert line["event"] == "artifact line" and line["trace_id"] == PARENT_TRACE
    assert line["agent_id"] == "cbam-cn-code-classifier" and line["version"] == "1.2.0"
    assert line["span_id"] == format(inv.span.get_span_context().span_id, "016x")
    assert "trace_id" not in logs[-1]  # unbound when the invocation ends
