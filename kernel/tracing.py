"""OpenTelemetry plumbing every traced process shares (sidecar, agent host): a tracer provider
configured from the standard ``OTEL_*`` environment, and W3C trace-context helpers.

:func:`setup_tracing` returns a :class:`TracerProvider` and never installs it globally; the
caller keeps it (``provider.get_tracer(name)``) and calls :func:`shutdown` on exit.

Exporting:

- ``exporter`` given: spans go to it (``SimpleSpanProcessor`` unless ``batch=True``).
- else ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (a full URL, ``.../v1/traces``) or
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` (a base URL; ``/v1/traces`` is appended) set: OTLP over
  HTTP/protobuf through a ``BatchSpanProcessor`` (a background thread; the request path only
  appends the ended span to a queue). The other standard ``OTEL_EXPORTER_OTLP_*`` variables
  (headers, timeout, compression, certificates) apply.
- else nothing is exported, but spans are still created, so every request has a trace id for
  logs and audit events and a ``traceparent`` for the next hop.

Sampling: an explicit ``sampler``, else ``OTEL_TRACES_SAMPLER``/``OTEL_TRACES_SAMPLER_ARG`` when
set (the product plan's "1 % in production" is ``parentbased_traceidratio`` with ``0.01``), else
``parentbased_always_on`` when spans are exported. When nothing is exported the default is
:data:`UNEXPORTED_SAMPLER`: a request whose caller sent a *sampled* ``traceparent`` is recorded
(so the sampled flag reaches the next hop unchanged); every other span is a non-recording span
with valid ids, and the ``traceparent`` sent on for it says "not sampled", which is true.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from typing import Final

from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanProcessor,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler
from opentelemetry.trace import Span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

ENV_OTLP_ENDPOINT: Final = "OTEL_EXPORTER_OTLP_ENDPOINT"
ENV_OTLP_TRACES_ENDPOINT: Final = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
ENV_TRACES_SAMPLER: Final = "OTEL_TRACES_SAMPLER"

#: Default sampler when no span is exported: follow a remote parent's sampled flag (recording
#: only those spans, so the flag is passed on), never record a root.
UNEXPORTED_SAMPLER: Final = ParentBased(root=ALWAYS_OFF)

_PROPAGATOR: Final = TraceContextTextMapPropagator()


def otlp_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment names an OTLP traces endpoint."""
    env = os.environ if environ is None else environ
    return bool(env.get(ENV_OTLP_TRACES_ENDPOINT) or env.get(ENV_OTLP_ENDPOINT))


def _resource(service_name: str) -> Resource:
    # OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES name the service when set; the argument is
    # the default (Resource.create would otherwise let the argument win over the environment).
    from_env = OTELResourceDetector().detect().attributes.get(SERVICE_NAME)
    return Resource.create({} if from_env else {SERVICE_NAME: service_name})


def setup_tracing(
    service_name: str,
    *,
    exporter: SpanExporter | None = None,
    batch: bool | None = None,
    sampler: Sampler | None = None,
) -> TracerProvider:
    """A tracer provider named ``service_name`` (not installed globally: keep it, pass it on).

    ``batch`` chooses the processor for ``exporter``: ``SimpleSpanProcessor`` (exports inline,
    for tests) by default, ``BatchSpanProcessor`` when true. The OTLP exporter configured from
    the environment is always batched.
    """
    processor: SpanProcessor | None = None
    if exporter is not None:
        processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    elif otlp_configured():
        # Imported only when used: the exporter pulls in protobuf and requests.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        processor = BatchSpanProcessor(OTLPSpanExporter())
    if sampler is None and processor is None and not os.environ.get(ENV_TRACES_SAMPLER):
        sampler = UNEXPORTED_SAMPLER
    # sampler None: the SDK reads OTEL_TRACES_SAMPLER (default parentbased_always_on)
    provider = TracerProvider(resource=_resource(service_name), sampler=sampler)
    if processor is not None:
        provider.add_span_processor(processor)
    return provider


def shutdown(provider: TracerProvider, timeout_s: float = 5.0) -> None:
    """Export what is queued (waiting at most ``timeout_s``) and stop the processors."""
    provider.force_flush(int(timeout_s * 1000))
    provider.shutdown()


def extract(headers: Mapping[str, str]) -> Context:
    """The remote parent in W3C ``traceparent``/``tracestate`` of incoming ``headers``.

    ``headers`` may be aiohttp's case-insensitive headers or a dict with lower-case keys. An
    absent or malformed ``traceparent`` gives an empty context (the next span is a new root);
    the current context is never used as the base, so nothing leaks between requests.
    """
    return _PROPAGATOR.extract(headers, context=Context())


def inject(headers: MutableMapping[str, str], context: Context | None = None) -> None:
    """Write ``traceparent`` (and ``tracestate`` when the span has one) for the span in
    ``context`` (the current context when None) into ``headers``, replacing what is there.

    Without a valid span in the context nothing is written and ``headers`` keep what they had.
    """
    _PROPAGATOR.inject(headers, context=context)


def trace_id_hex(span: Span | None) -> str | None:
    """The span's trace id as 32 lower-case hex digits, or None for no/invalid span."""
    if span is None:
        return None
    ctx = span.get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def span_id_hex(span: Span | None) -> str | None:
    """The span's id as 16 lower-case hex digits, or None for no/invalid span."""
    if span is None:
        return None
    ctx = span.get_span_context()
    return format(ctx.span_id, "016x") if ctx.is_valid else None
