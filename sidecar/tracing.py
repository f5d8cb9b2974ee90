"""OpenTelemetry tracing for the sidecar: its service name, span attribute names and GenAI
token-usage attributes. The provider and W3C trace-context helpers are shared with the agent host
and live in :mod:`kernel.tracing` (re-exported here); :func:`setup_tracing` names the service
``greenlang-sidecar`` unless ``OTEL_SERVICE_NAME`` says otherwise.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.trace import Span

from kernel import tracing as _shared
from kernel.tracing import (
    ENV_OTLP_ENDPOINT,
    ENV_OTLP_TRACES_ENDPOINT,
    ENV_TRACES_SAMPLER,
    UNEXPORTED_SAMPLER,
    extract,
    inject,
    otlp_configured,
    shutdown,
    span_id_hex,
    trace_id_hex,
)

DEFAULT_SERVICE_NAME: Final = "greenlang-sidecar"
TRACER_NAME: Final = "greenlang.sidecar"

# Span attribute names (OpenTelemetry semantic conventions where one exists).
AGENT_ID: Final = "agent.id"
AGENT_VERSION: Final = "agent.version"
GOVERNANCE_DECISION: Final = "governance.decision"  # allow | warn | deny | error | fail_open
GOVERNANCE_VIOLATIONS: Final = "governance.violations"  # list of violated policy ids
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
URL_PATH: Final = "url.path"
ERROR_TYPE: Final = "error.type"
ENDUSER_ID: Final = "enduser.id"
# GenAI semantic conventions (token usage of the agent's LLM calls, as its response reports it).
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_TOTAL_TOKENS: Final = "gen_ai.usage.total_tokens"  # not (yet) in the semconv
# Short aliases.
DECISION: Final = GOVERNANCE_DECISION
HTTP_METHOD: Final = HTTP_REQUEST_METHOD
HTTP_STATUS: Final = HTTP_RESPONSE_STATUS_CODE


class TokenUsage(Protocol):
    """What :func:`set_usage` reads (``sidecar.usage.Usage`` has this shape)."""

    @property
    def total(self) -> int | None: ...
    @property
    def prompt(self) -> int | None: ...
    @property
    def completion(self) -> int | None: ...
    @property
    def model(self) -> str | None: ...


def setup_tracing(
    service_name: str = DEFAULT_SERVICE_NAME,
    *,
    exporter: SpanExporter | None = None,
    batch: bool | None = None,
    sampler: Sampler | None = None,
) -> TracerProvider:
    """:func:`kernel.tracing.setup_tracing` with the sidecar's service name as the default."""
    return _shared.setup_tracing(service_name, exporter=exporter, batch=batch, sampler=sampler)


def usage_attributes(
    total: int | None,
    prompt: int | None = None,
    completion: int | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """GenAI span attributes for token usage; absent values are left out."""
    attrs: dict[str, Any] = {}
    if prompt is not None:
        attrs[GEN_AI_USAGE_INPUT_TOKENS] = prompt
    if completion is not None:
        attrs[GEN_AI_USAGE_OUTPUT_TOKENS] = completion
    if total is not None:
        attrs[GEN_AI_USAGE_TOTAL_TOKENS] = total
    if model:
        attrs[GEN_AI_RESPONSE_MODEL] = model
    return attrs


def set_usage(span: Span, usage: TokenUsage) -> None:
    """Set the GenAI token-usage attributes of ``usage`` on ``span`` (no-op if not recording)."""
    if span.is_recording():
        span.set_attributes(
            usage_attributes(usage.total, usage.prompt, usage.completion, usage.model)
        )


# The shared helpers of kernel.tracing are re-exported: the sidecar's modules take them from here.
__all__ = [
    "AGENT_ID",
    "AGENT_VERSION",
    "DECISION",
    "DEFAULT_SERVICE_NAME",
    "ENDUSER_ID",
    "ENV_OTLP_ENDPOINT",
    "ENV_OTLP_TRACES_ENDPOINT",
    "ENV_TRACES_SAMPLER",
    "ERROR_TYPE",
    "GEN_AI_REQUEST_MODEL",
    "GEN_AI_RESPONSE_MODEL",
    "GEN_AI_USAGE_INPUT_TOKENS",
    "GEN_AI_USAGE_OUTPUT_TOKENS",
    "GEN_AI_USAGE_TOTAL_TOKENS",
    "GOVERNANCE_DECISION",
    "GOVERNANCE_VIOLATIONS",
    "HTTP_METHOD",
    "HTTP_REQUEST_METHOD",
    "HTTP_RESPONSE_STATUS_CODE",
    "HTTP_STATUS",
    "TRACER_NAME",
    "UNEXPORTED_SAMPLER",
    "URL_PATH",
    "TokenUsage",
    "extract",
    "inject",
    "otlp_configured",
    "set_usage",
    "setup_tracing",
    "shutdown",
    "span_id_hex",
    "trace_id_hex",
    "usage_attributes",
]
