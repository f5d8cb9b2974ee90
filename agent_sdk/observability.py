"""Observability hooks for agent code: Prometheus metrics, OpenTelemetry spans, structlog events.

One :class:`AgentObservability` per agent process (the agent host makes it; an artifact takes it
with :func:`current`)::

    from agent_sdk.observability import current

    def run(inputs):
        obs = current()
        with obs.tool_call("cn_lookup"):
            hit = code in CACHE
            obs.cache(hit=hit)
        with obs.llm_call(model="gpt-4o") as call:
            answer = client.chat(...)
            call.record_tokens(input_tokens=120, output_tokens=40)

Metrics (on the object's own :class:`CollectorRegistry`, served by the host at ``GET /metrics``)
keep the names and labels the sidecar uses, so one query covers both (Prometheus' ``job`` tells
them apart): ``agent_invocations_total{agent_id,version,status}``,
``agent_invocation_duration_seconds{agent_id,version}``,
``agent_tokens_used_total{agent_id,version,model}``, plus the SDK's own
``agent_cache_lookups_total{agent_id,version,result}`` and ``agent_cache_hit_ratio``.

Spans follow the OpenTelemetry GenAI semantic conventions: the invocation is
``invoke_agent {agent_id}`` (``gen_ai.operation.name=invoke_agent``), a tool call
``execute_tool {name}`` (``execute_tool``, ``gen_ai.tool.name``), an LLM call ``chat {model}``
(``chat``, ``gen_ai.request.model``, ``gen_ai.usage.input_tokens``/``output_tokens``). The
invocation continues the caller's ``traceparent``, so one trace runs caller → sidecar → agent →
tool/LLM spans. Spans and the current object live in context variables: work in threads the
artifact starts itself needs ``contextvars.copy_context().run`` to stay in the trace.
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import structlog
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from kernel.tracing import extract, span_id_hex, trace_id_hex

TRACER_NAME: Final = "greenlang.agent_sdk"
INVOCATION_BUCKETS: Final = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # the plan's buckets
SUCCESS: Final = "success"  # agent_invocations_total{status}: the sidecar's vocabulary
SERVER_ERROR: Final = "server_error"
UNKNOWN: Final = "unknown"

# OpenTelemetry GenAI semantic conventions (attribute names and operation values).
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_AGENT_ID: Final = "gen_ai.agent.id"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
OP_INVOKE_AGENT: Final = "invoke_agent"
OP_EXECUTE_TOOL: Final = "execute_tool"
OP_CHAT: Final = "chat"
AGENT_ID: Final = "agent.id"  # the sidecar's span attributes, for joins across hops
AGENT_VERSION: Final = "agent.version"
ERROR_TYPE: Final = "error.type"

log = structlog.get_logger("agent_sdk")


class AgentMetrics:
    """The SDK's Prometheus series for one agent/version, on one registry."""

    def __init__(self, agent_id: str, version: str, registry: CollectorRegistry) -> None:
        labels = {"agent_id": agent_id, "version": version}
        self._labels = labels
        self.invocations = Counter(
            "agent_invocations_total",
            "Invocations of the agent's run(), by status (success, server_error)",
            ["agent_id", "version", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "agent_invocation_duration_seconds",
            "Time spent in the agent's run()",
            ["agent_id", "version"],
            buckets=INVOCATION_BUCKETS,
            registry=registry,
        ).labels(**labels)
        self.tokens = Counter(
            "agent_tokens_used_total",
            "LLM tokens the agent used (input plus output), by model",
            ["agent_id", "version", "model"],
            registry=registry,
        )
        lookups = Counter(
            "agent_cache_lookups_total",
            "Cache lookups the agent reported, by result (hit, miss)",
            ["agent_id", "version", "result"],
            registry=registry,
        )
        self.hits, self.misses = (
            lookups.labels(**labels, result="hit"),
            lookups.labels(**labels, result="miss"),
        )
        # No ratio sample before the first lookup: 0 would read as "every lookup missed".
        self.hit_ratio = Gauge(
            "agent_cache_hit_ratio",
            "Share of the agent's cache lookups that hit, since the process started",
            ["agent_id", "version"],
            registry=registry,
        )
        self._lock = threading.Lock()
        self._hit_count = self._miss_count = 0

    def invocation(self, status: str, duration_s: float) -> None:
        self.invocations.labels(**self._labels, status=status).inc()
        self.duration.observe(duration_s)

    def token_use(self, model: str, count: int) -> None:
        if count > 0:
            self.tokens.labels(**self._labels, model=model or UNKNOWN).inc(count)

    def cache(self, hit: bool) -> None:
        """Count a lookup and set the ratio under one lock, so the two never disagree."""
        with self._lock:
            if hit:
                self._hit_count += 1
                self.hits.inc()
            else:
                self._miss_count += 1
                self.misses.inc()
            self.hit_ratio.labels(**self._labels).set(
                self._hit_count / (self._hit_count + self._miss_count)
            )


@dataclass
class LlmCall:
    """What ``with obs.llm_call(...) as call`` yields: report the call's token use on it."""

    obs: AgentObservability
    span: Span
    model: str
    input_tokens: int = 0
    output_tokens: int = 0

    def record_tokens(
        self, input_tokens: int = 0, output_tokens: int = 0, response_model: str | None = None
    ) -> None:
        """Add the usage the model's response reported (callable once per response)."""
        if input_tokens < 0 or output_tokens < 0:
            raise ValueError("token counts cannot be negative")
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        if response_model:
            self.span.set_attribute(GEN_AI_RESPONSE_MODEL, response_model)
        self.span.set_attributes(
            {
                GEN_AI_USAGE_INPUT_TOKENS: self.input_tokens,
                GEN_AI_USAGE_OUTPUT_TOKENS: self.output_tokens,
            }
        )
        self.obs.metrics.token_use(self.model, input_tokens + output_tokens)


@dataclass
class Invocation:
    """What ``with obs.invocation(...)`` yields: the span and its trace id for logs/answers."""

    span: Span
    trace_id: str | None
    status: str = SUCCESS

    def fail(self, error_type: str) -> None:
        """Count this invocation as ``server_error`` (for failures handled without raising)."""
        self.status = SERVER_ERROR
        self.span.set_attribute(ERROR_TYPE, error_type)
        self.span.set_status(Status(StatusCode.ERROR))


class AgentObservability:
    """Metrics, spans and log events of one agent version (the plan's ``AgentObservability``).

    ``tracer_provider``: where spans go (the host passes :func:`kernel.tracing.setup_tracing`'s
    provider; by default the process's global provider, a no-op unless the application set one).
    ``registry``: where the metrics live (a fresh :class:`CollectorRegistry` by default, so two
    objects in one process never clash over names).
    """

    def __init__(
        self,
        agent_id: str,
        version: str,
        *,
        tracer_provider: TracerProvider | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.agent_id = agent_id
        self.version = version
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.metrics = AgentMetrics(agent_id, version, self.registry)
        provider = tracer_provider or trace.get_tracer_provider()
        self.tracer: Tracer = provider.get_tracer(TRACER_NAME)
        self.log = log.bind(agent_id=agent_id, version=version)

    @contextmanager
    def invocation(
        self, headers: Mapping[str, str] | None = None, *, traceparent: str | None = None
    ) -> Iterator[Invocation]:
        """One call of the agent: a span continuing the caller's trace (``traceparent`` in
        ``headers``, or given alone), the invocation metrics, one log event. An exception
        counts as ``server_error`` and propagates; set ``inv.status`` for another outcome."""
        carrier = dict(headers or {})
        if traceparent is not None:
            carrier = {"traceparent": traceparent}
        attributes = {
            GEN_AI_OPERATION_NAME: OP_INVOKE_AGENT,
            GEN_AI_AGENT_ID: self.agent_id,
            GEN_AI_AGENT_NAME: self.agent_id,
            AGENT_ID: self.agent_id,
            AGENT_VERSION: self.version,
        }
        started = time.perf_counter()
        with self.tracer.start_as_current_span(
            f"{OP_INVOKE_AGENT} {self.agent_id}",
            context=extract(carrier),
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            inv = Invocation(span, trace_id_hex(span))
            # Every log line of the invocation (the artifact's too) carries these keys.
            with structlog.contextvars.bound_contextvars(
                agent_id=self.agent_id,
                version=self.version,
                trace_id=inv.trace_id,
                span_id=span_id_hex(span),
            ):
                token = _CURRENT.set(self)
                try:
                    yield inv
                except BaseException as exc:
                    inv.status = SERVER_ERROR
                    _mark_failed(span, exc)
                    raise
                finally:
                    _CURRENT.reset(token)
                    elapsed = time.perf_counter() - started
                    self.metrics.invocation(inv.status, elapsed)
                    self.log.info(  # `outcome`: a log field `status` is an HTTP status
                        "agent.invocation",
                        outcome=inv.status,
                        duration_ms=round(elapsed * 1000, 3),
                        trace_id=inv.trace_id,
                    )

    @contextmanager
    def tool_call(self, name: str) -> Iterator[Span]:
        """A tool the agent runs (a lookup, a calculation, an API): ``execute_tool {name}``."""
        attributes = {GEN_AI_OPERATION_NAME: OP_EXECUTE_TOOL, GEN_AI_TOOL_NAME: name}
        with self._child(f"{OP_EXECUTE_TOOL} {name}", SpanKind.INTERNAL, attributes) as span:
            yield span
        self.log.debug("agent.tool_call", tool=name)

    @contextmanager
    def llm_call(
        self, model: str, *, provider: str | None = None, operation: str = OP_CHAT
    ) -> Iterator[LlmCall]:
        """A call to a language model: ``{operation} {model}``; report usage on the yielded
        :class:`LlmCall` (``record_tokens``), which feeds ``agent_tokens_used_total``."""
        attributes = {GEN_AI_OPERATION_NAME: operation, GEN_AI_REQUEST_MODEL: model}
        if provider:
            attributes[GEN_AI_PROVIDER_NAME] = provider
        with self._child(f"{operation} {model}", SpanKind.CLIENT, attributes) as span:
            call = LlmCall(self, span, model)
            yield call
        self.log.debug(
            "agent.llm_call",
            model=model,
            input_tokens=call.input_tokens,
            output_tokens=call.output_tokens,
        )

    def cache(self, hit: bool) -> None:
        """Report one cache lookup (feeds the lookup counters and ``agent_cache_hit_ratio``)."""
        self.metrics.cache(hit)
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event("cache.lookup", {"cache.hit": hit})

    def log_event(self, event: str, level: str = "info", **fields: Any) -> None:
        """A structured log event carrying agent_id and version (and the call's fields)."""
        getattr(self.log, level)(event, **fields)

    @contextmanager
    def _child(self, name: str, kind: SpanKind, attributes: dict[str, Any]) -> Iterator[Span]:
        with self.tracer.start_as_current_span(
            name,
            kind=kind,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except BaseException as exc:
                _mark_failed(span, exc)
                raise


def _mark_failed(span: Span, exc: BaseException) -> None:
    """Error status and ``error.type`` only: the message may carry input data."""
    span.set_attribute(ERROR_TYPE, type(exc).__name__)
    span.set_status(Status(StatusCode.ERROR))


_CURRENT: contextvars.ContextVar[AgentObservability] = contextvars.ContextVar(
    "greenlang_agent_observability"
)
_fallback: AgentObservability | None = None
_fallback_lock = threading.Lock()


def current() -> AgentObservability:
    """The observability of the invocation running in this context; outside one (an artifact
    called directly, in a test) one process-wide object named from ``GREENLANG_AGENT_ID`` and
    ``GREENLANG_AGENT_VERSION``, so artifact code never needs to check."""
    obs = _CURRENT.get(None)
    if obs is not None:
        return obs
    global _fallback
    with _fallback_lock:
        if _fallback is None:
            _fallback = AgentObservability(
                os.environ.get("GREENLANG_AGENT_ID") or UNKNOWN,
                os.environ.get("GREENLANG_AGENT_VERSION") or UNKNOWN,
            )
        return _fallback
