"""The enforcement pipeline: authenticate, measure, decide, forward, inspect, decide again, audit.

caller -> [401 no/invalid JWT] -> [503 audit spool full] -> pre decision
       -> [429 rate or token budget | 403 policy | 503 no decision] -> [413 body cap] -> agent
       -> JSON: read (size cap), tokens (added to a budgeted caller's window), post decision
          [403 over token limit], mask
          other: tokens from X-Tokens-Used (added likewise), post decision, stream (size cap)
every call -> one audit event, metrics, one span (children pre-check, upstream, post-check when
              it is recorded)
"""

from __future__ import annotations

import itertools
import time
import zlib
from collections.abc import Awaitable, Hashable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer

from bundles.engines import EngineError, InputError, PolicyEngine
from bundles.layout import RATE_BANDS_ENTRYPOINT
from kernel.headers import request_id_of
from kernel.problems import problem_response
from sidecar import json_codec, refusals, tracing
from sidecar.audit_sink import AuditSink
from sidecar.auth import PRINCIPAL, Authenticator, AuthError, Principal
from sidecar.call import (
    RATE_LIMITING,
    Call,
    Query,
    Target,
    asked_input,
    audit_event,
    post_query,
    pre_queries,
)
from sidecar.decision_input import InputKeeper
from sidecar.decisions import Decision, DecisionCache, rate_band, unite
from sidecar.deprecation import SERVING_VERSION
from sidecar.io_sample import IoSampler, log_sample
from sidecar.masking import MaskingError, encode_json, masker_for
from sidecar.metrics import (
    ERROR_DECISION_UNAVAILABLE,
    ERROR_RATE_STORE_UNAVAILABLE,
    PHASE_POST,
    PHASE_PRE,
    PHASE_TOTAL,
    AgentMetrics,
    SidecarMetrics,
)
from sidecar.obligations import ObligationError, Obligations, from_decision, stock
from sidecar.policy_source import PolicySource
from sidecar.proxy import (
    BODY_DESCRIBING_HEADERS,
    REQUEST_ID,
    ReverseProxy,
    UpstreamError,
    response_headers,
    upstream_failure,
)
from sidecar.rate_port import RateCounter, RateStoreUnavailable, TokenCounter
from sidecar.refusals import Refused
from sidecar.router import Router
from sidecar.sse import SseReader
from sidecar.token_budgets import POLICY_ID as TOKEN_BUDGET
from sidecar.usage import Usage, usage_from_headers, usage_from_json

log = structlog.get_logger("sidecar")

WARNING_HEADER = "X-Governance-Warning"
CLASSIFICATION_HEADER = "X-Data-Classification"
# Changed bodies lose what described the old bytes.
_STALE_WHEN_REWRITTEN = (*BODY_DESCRIBING_HEADERS, "Content-Encoding")
_NOT_JSON = object()
MAX_TOKENS_ADDED = 10**12  # one call's tokens added to a window at most (lib.is_count's bound)


@dataclass
class Enforcer:
    target: Target
    proxy: ReverseProxy
    source: PolicySource
    authenticator: Authenticator
    rate: RateCounter  # in process (answers at once) or a shared store (awaited)
    sink: AuditSink
    metrics: SidecarMetrics
    tracer: Tracer
    fail_open: bool = False
    connect_timeout_s: float = 5.0
    cache: DecisionCache = field(default_factory=DecisionCache)
    router: Router | None = None  # canary routing (None: every call is served here)
    sampler: IoSampler = field(default_factory=IoSampler)  # io_sample lines (rate 0: none)
    inputs: InputKeeper | None = None  # keeps decision inputs in audit events (None: not kept)
    # Tokens per caller per window, for token budgets: counted only for callers a budget may
    # apply to (the bundle says who); None: never counted.
    tokens: TokenCounter | None = None

    def __post_init__(self) -> None:
        self._bound: AgentMetrics | None = None  # bound on the first call, to its version
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        # The obligations last read and the decision's raw obligations they came from: calls
        # of one caller get equal ones (the same object from a reused decision), so they are
        # validated once, not on every call.
        self._obligations: tuple[object, Obligations] | None = None
        self._tickets = itertools.count(1)  # names each rate reservation (release removes it)
        self._budgets = self.tokens is not None and RATE_LIMITING in self.target.pre_policy_types

    async def handle(self, request: web.Request) -> web.StreamResponse:
        start = time.perf_counter()
        call = Call(
            request_id=request_id_of(request),
            method=request.method,
            path=request.path,
            version=self.target.version or self.source.agent_version(self.target.agent_id),
            sample=self.sampler.start(),
        )
        request[REQUEST_ID] = call.request_id
        if self.router is not None and (plan := self.router.plan(call.version)) is not None:
            assert call.version is not None  # a plan needs a version
            routed = await self.router.route(request, plan, call.version, call.request_id)
            if routed is not None:
                return routed  # served (and audited) by the other version's sidecar
        if call.version is not None:
            request[SERVING_VERSION] = call.version  # version and deprecation headers (app.py)
        with self.tracer.start_as_current_span(
            "sidecar.invoke",
            context=tracing.extract(request.headers),
            kind=SpanKind.SERVER,
            attributes=self._span_attributes(call),
        ) as span:
            call.trace_id = tracing.trace_id_hex(span)
            structlog.contextvars.bind_contextvars(
                request_id=call.request_id,
                trace_id=call.trace_id,
                agent_id=self.target.agent_id,
                **({"version": call.version} if call.version else {}),
            )
            bound = self._metrics_for(call.version)
            bound.concurrent_inc()
            try:
                response = await self._invoke(request, call)
                call.status = response.status
                return response
            except Refused as refused:
                call.status, call.decided_by_sidecar = refused.status, True
                call.error = refused.error or call.error
                body = refused.body(call.path, call.request_id)
                return problem_response(body, refused.headers)
            except BaseException:
                call.status = call.status or 499  # the client went away mid-call
                raise
            finally:
                bound.concurrent_dec()
                self._finish(call, time.perf_counter() - start, span)
                structlog.contextvars.unbind_contextvars(
                    "request_id", "trace_id", "agent_id", "version"
                )

    async def _invoke(self, request: web.Request, call: Call) -> web.StreamResponse:
        t0 = time.perf_counter()
        call.principal = await self._authenticate(request)
        call.data_classification = request.headers.get(CLASSIFICATION_HEADER)
        if not self.sink.accepting():
            raise refusals.audit_unavailable()
        obligations = await self._pre_check(call)
        if call.sample is not None:
            call.sample.mask = obligations.mask_pairs if obligations.mask else ()
        size = request.content_length
        if size is not None and size > obligations.max_request_bytes:
            raise refusals.request_too_large(obligations.max_request_bytes)
        self._overhead(call, PHASE_PRE, time.perf_counter() - t0)
        upstream = await self._send(request, call, obligations)
        try:
            return await self._respond(request, call, upstream, obligations)
        finally:
            upstream.release()

    async def _authenticate(self, request: web.Request) -> Principal:
        principal = request.get(PRINCIPAL)
        if principal is not None:  # the router verified it already
            return principal
        try:
            return await self.authenticator.authenticate(request.headers.get("Authorization"))
        except AuthError as exc:
            raise refusals.unauthenticated(exc.detail, _header_text(exc.www_authenticate)) from None

    async def _pre_check(self, call: Call) -> Obligations:
        assert call.principal is not None
        key, ticket = call.principal.id, next(self._tickets)
        current = self.rate.take(key, ticket)  # reserved now: concurrent calls count each other
        if not isinstance(current, int):  # a shared store; in process no coroutine is made
            current = await self._counted(call, current)
        try:
            if self._budgets and self.source.token_budgets.applies(
                self.target.agent_id, call.principal.roles
            ):
                call.tokens_used = await self._tokens_used(call, key)
            queries = pre_queries(self.target, call, current, split=self.cache.ttl_s > 0)
            if self.inputs is not None:
                call.pre_input = asked_input(queries, self.target.pre_policy_types)
            decision = await self._decide(call, PHASE_PRE, queries)
        except BaseException:
            await self._release(key, ticket)
            raise
        if decision is None:  # fail-open
            return stock()
        call.adopt(decision)
        if call.decision == "deny":
            if self.inputs is not None:
                call.mask = _mask_of(decision)
            await self._release(key, ticket)  # refused calls do not count against the caller
            types = call.denied_types
            if types and all(t == RATE_LIMITING for t in types):
                raise await self._too_many(call, key)
            raise refusals.denied(call.violations, call.warnings)
        try:
            obligations = self._obligations_of(decision)
        except ObligationError as exc:
            call.decision = "error"
            raise refusals.obligations_unusable(str(exc)) from None
        call.mask = obligations.mask_pairs
        return obligations

    async def _counted(self, call: Call, pending: Awaitable[int]) -> int:
        """A shared store's count; 503 when it cannot count (and is not to fall back)."""
        try:
            return await pending
        except RateStoreUnavailable as exc:  # the store logs the outage once, the metric counts
            call.decision, call.error = "error", ERROR_RATE_STORE_UNAVAILABLE
            raise refusals.rate_store_unavailable(str(exc)) from None

    async def _tokens_used(self, call: Call, key: str) -> int:
        """The caller's tokens in the window (503 when a shared store cannot say)."""
        assert self.tokens is not None
        used = self.tokens.used(key)
        return used if isinstance(used, int) else await self._counted(call, used)

    async def _spend(self, call: Call) -> None:
        """Add the call's tokens to a budgeted caller's window, once, as soon as known.

        Never fails the call: it was answered already (a store that is away logs it)."""
        if call.tokens_used is None or call.usage is None or call.spent or self.tokens is None:
            return
        assert call.principal is not None
        call.spent = True
        pending = self.tokens.add(call.principal.id, min(call.usage.total, MAX_TOKENS_ADDED))
        if pending is not None:
            await pending

    async def _too_many(self, call: Call, key: str) -> refusals.Refused:
        """429 for a rate or token-budget denial, ``Retry-After`` the longer wait it needs."""
        ids = {v["policy_id"] for v in call.violations}
        budget = TOKEN_BUDGET in ids and self.tokens is not None
        waits = []
        if budget:
            assert self.tokens is not None
            waits.append(self.tokens.retry_after(key))
        if not budget or ids - {TOKEN_BUDGET}:
            waits.append(self.rate.retry_after(key))
        retry = max([w if isinstance(w, int) else await w for w in waits])
        return refusals.rate_limited(call.violations, retry, tokens=ids == {TOKEN_BUDGET})

    async def _release(self, key: str, ticket: int) -> None:
        pending = self.rate.release(key, ticket)
        if pending is not None:
            await pending

    def _obligations_of(self, decision: Decision) -> Obligations:
        raw = decision.get("obligations")
        last = self._obligations
        if last is not None and raw is not None and (last[0] is raw or last[0] == raw):
            return last[1]
        obligations = from_decision(decision)
        self._obligations = (raw, obligations)
        return obligations

    async def _decide(self, call: Call, phase: str, queries: list[Query]) -> Decision | None:
        """The united decision of ``queries``; None when failing open, else 503 without one."""
        with self._child_span(f"governance.{phase}_check") as span:
            engine = self.source.engine
            try:
                if engine is None:
                    raise EngineError(await self.source.not_ready_reason() or "no policy loaded")
                parts = [await self._ask(engine, q) for q in queries]
                decision = parts[0] if len(parts) == 1 else unite(parts)
                span.set_attribute(tracing.DECISION, str(decision.get("decision")))
                return decision
            except InputError as exc:
                raise refusals.bad_request(f"the request cannot be evaluated: {exc}") from None
            except EngineError as exc:
                span.set_status(trace.StatusCode.ERROR, str(exc))
                log.warning("decision_unavailable", phase=phase, error=str(exc))
                call.error = ERROR_DECISION_UNAVAILABLE
                if self.fail_open:
                    call.decision = "fail_open"
                    return None
                call.decision = "error"
                raise refusals.decision_unavailable(str(exc)) from None

    async def _ask(self, engine: PolicyEngine, query: Query) -> Decision:
        key = query.key
        if key is not None and query.rate_current is not None:
            key = await self._rate_band_key(engine, query, key)
        if key is None:
            return await engine.decide(query.input, query.entrypoint)
        decision = self.cache.get(engine, key)
        if decision is None:
            decision = await engine.decide(query.input, query.entrypoint)
            self.cache.put(engine, key, decision)
        return decision

    async def _rate_band_key(
        self, engine: PolicyEngine, query: Query, key: Hashable
    ) -> Hashable | None:
        """``key`` narrowed to the rate band of the query's count (None: ask every time)."""
        assert query.rate_current is not None
        bands = await self._ask(engine, Query(query.input, ("bands", key), RATE_BANDS_ENTRYPOINT))
        band = rate_band(bands, query.rate_current)
        return None if band is None else (key, band)

    async def _send(
        self, request: web.Request, call: Call, obligations: Obligations
    ) -> aiohttp.ClientResponse:
        headers = self.proxy.upstream_headers(request, call.request_id)
        with self._child_span("upstream", SpanKind.CLIENT) as span:
            tracing.inject(headers, trace.set_span_in_context(span))
            try:
                return await self.proxy.open(
                    request,
                    headers,
                    client_timeout=self._timeout(obligations.timeout_s),
                    body_limit=obligations.max_request_bytes,
                    tap=call.sample.tap_request if call.sample is not None else None,
                )
            except UpstreamError as exc:
                span.set_status(trace.StatusCode.ERROR, exc.detail)
                raise refusals.upstream_failed(exc) from None

    def _child_span(
        self, name: str, kind: SpanKind = SpanKind.INTERNAL
    ) -> AbstractContextManager[trace.Span]:
        """A child of the call's span; under a span that is not recorded (nothing exports it,
        or the caller's trace is not sampled) the call's span itself: its children would not
        be recorded either, and each costs a sampler call and two context switches per call.
        The agent then sees the call's span as its parent, with the same trace id and flags."""
        current = trace.get_current_span()
        if not current.is_recording():
            return nullcontext(current)
        return self.tracer.start_as_current_span(name, kind=kind)

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        """The agent may stay silent at most ``seconds`` (per read), however long it streams."""
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(
                total=None, sock_connect=self.connect_timeout_s, sock_read=seconds
            )
            self._timeouts[seconds] = timeout
        return timeout

    async def _respond(
        self,
        request: web.Request,
        call: Call,
        upstream: aiohttp.ClientResponse,
        obligations: Obligations,
    ) -> web.StreamResponse:
        warn = [
            (WARNING_HEADER, _header_text(f"{w['policy_id']}: {w['message']}"))
            for w in call.warnings
        ]
        if _is_json(upstream) and request.method != "HEAD":
            return await self._respond_json(request, call, upstream, obligations, warn)
        t0 = time.perf_counter()
        await self._post_check(call, usage_from_headers(upstream.headers), upstream)
        reader = self._event_reader(request, upstream, obligations)
        if call.sample is not None:
            call.sample.streamed = True
        self._overhead(call, PHASE_POST, time.perf_counter() - t0)
        call.status = upstream.status
        response = await self.proxy.stream_back(
            request,
            upstream,
            call.request_id,
            extra_headers=warn,
            limit=obligations.max_response_bytes,
            rewrite=reader,
            cut=call.fail,
        )
        if reader is not None and call.usage is None:
            call.usage = reader.usage  # known only once the stream went out: audited, not denied
            if call.tokens_used is not None:
                await self._spend(call)
        return response

    def _event_reader(
        self, request: web.Request, upstream: aiohttp.ClientResponse, obligations: Obligations
    ) -> SseReader | None:
        """A reader for an event stream (masks, token usage); None for other bodies."""
        if not _is_event_stream(upstream) or request.method == "HEAD":
            return None
        encoding = upstream.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding != "identity":
            if obligations.mask:
                upstream.close()
                raise refusals.response_uninspectable(encoding)
            return None
        try:
            return SseReader(masker_for(obligations.mask_pairs) if obligations.mask else None)
        except MaskingError as exc:
            upstream.close()
            raise refusals.masking_failed(str(exc)) from None

    async def _respond_json(
        self,
        request: web.Request,
        call: Call,
        upstream: aiohttp.ClientResponse,
        obligations: Obligations,
        warn: list[tuple[str, str]],
    ) -> web.Response:
        """Buffer a JSON answer (within the cap) to read its token usage and mask it."""
        body = await _read_limited(upstream, obligations.max_response_bytes)
        t0 = time.perf_counter()
        encoding = upstream.headers.get("Content-Encoding", "identity").strip().lower()
        text = _decode(body, encoding, obligations.max_response_bytes)
        doc = _parse(text)
        if call.sample is not None:
            call.sample.set_response(text, len(text) if text is not None else len(body))
        usage = usage_from_headers(upstream.headers) or (
            usage_from_json(doc) if doc is not _NOT_JSON else None
        )
        await self._post_check(call, usage, upstream)
        out = body
        if obligations.mask and text is None:
            raise refusals.response_uninspectable(encoding)
        if obligations.mask and doc is not _NOT_JSON:
            out = self._mask(doc, obligations) or body
        headers = response_headers(upstream, call.request_id, warn)
        for name in _STALE_WHEN_REWRITTEN if out is not body else ("Content-Length",):
            headers.popall(name, None)
        self._overhead(call, PHASE_POST, time.perf_counter() - t0)
        return web.Response(
            status=upstream.status, reason=upstream.reason, body=out, headers=headers
        )

    def _mask(self, doc: Any, obligations: Obligations) -> bytes | None:
        try:
            masked, replaced = masker_for(obligations.mask_pairs).mask_owned(doc)
        except MaskingError as exc:
            raise refusals.masking_failed(str(exc)) from None
        if not replaced:
            return None
        return encode_json(masked)

    async def _post_check(
        self, call: Call, usage: Usage | None, upstream: aiohttp.ClientResponse
    ) -> None:
        """With token usage known, count it and ask again; a denial replaces the agent's answer
        with 403 (its tokens were used all the same: they count against a budget)."""
        call.usage = usage
        if call.tokens_used is not None:
            await self._spend(call)
        if usage is None or call.decision == "fail_open":
            return
        query = post_query(self.target, call, usage)
        if self.inputs is not None:
            call.post_input = query.input
        decision = await self._decide(call, PHASE_POST, [query])
        if decision is None:
            return
        violations = list(decision.get("violations") or [])
        call.warnings += [w for w in decision.get("warnings") or [] if w not in call.warnings]
        if violations:
            call.decision, call.violations = "deny", call.violations + violations
            call.denied_types = sorted({*call.denied_types, *(decision.get("denied_types") or [])})
            upstream.close()  # the body is not wanted; never pool a half-read connection
            raise refusals.denied(call.violations, call.warnings)

    def _metrics_for(self, version: str | None) -> AgentMetrics:
        """The metric children of the serving version (it changes when another is activated)."""
        bound = self._bound
        if bound is None or (version or "unknown") != bound.version:
            bound = self._bound = self.metrics.for_agent(self.target.agent_id, version)
        return bound

    def _overhead(self, call: Call, phase: str, seconds: float) -> None:
        self._metrics_for(call.version).observe_overhead(phase, seconds)
        call.overhead_s += seconds

    def _types(self, call: Call) -> Mapping[str, str]:
        """policy_id -> type: the bundle's metadata, else the decision's single denied type."""
        known = self.source.policy_types
        if known or len(call.denied_types) != 1:
            return known
        return {v["policy_id"]: call.denied_types[0] for v in call.violations}

    def _span_attributes(self, call: Call) -> dict[str, Any]:
        return {
            tracing.AGENT_ID: self.target.agent_id,
            tracing.AGENT_VERSION: self.target.version or "",
            tracing.HTTP_METHOD: call.method,
            tracing.URL_PATH: call.path,
        }

    def _finish(self, call: Call, latency_s: float, span: trace.Span) -> None:
        """One audit event and one set of metric samples per call, whatever happened."""
        if self.inputs is not None:
            mask = call.mask if call.mask is not None else stock().mask_pairs  # not decided
            call.input = self.inputs.keep(call.pre_input, call.post_input, mask)
        self.sink.record(audit_event(self.target, call, latency_s))
        if call.sample is not None:
            log_sample(call.sample, method=call.method, path=call.path, status=call.status)
        bound = self._metrics_for(call.version)
        bound.record_call(call.status, call.decided_by_sidecar, latency_s, call.trace_id)
        if call.overhead_s:
            bound.observe_overhead(PHASE_TOTAL, call.overhead_s)
        if call.error:
            bound.record_error(call.error)
        if call.usage is not None:
            bound.record_tokens(call.usage.model, call.usage.total)
            tracing.set_usage(span, call.usage)
        if call.violations:
            self.metrics.record_violations(call.violations, self._types(call))
        self.metrics.record_decision(call.decision)
        span.set_attribute(tracing.HTTP_STATUS, call.status)
        span.set_attribute(tracing.DECISION, call.decision)
        if call.status >= 500:
            span.set_status(trace.StatusCode.ERROR)


def _mask_of(decision: Decision) -> tuple[tuple[str, str], ...]:
    """The mask patterns a kept input is masked with: the decision's, else the stock ones."""
    try:
        return from_decision(decision).mask_pairs
    except ObligationError:
        return stock().mask_pairs


def _header_text(text: str) -> str:
    """A policy's text as a header value: printable ASCII (others escaped), one line."""
    if text.isascii() and text.isprintable():
        return text
    return (
        "".join(c if c.isprintable() else " " for c in text)
        .encode("ascii", "backslashreplace")
        .decode()
    )


def _media_type(upstream: aiohttp.ClientResponse) -> str:
    return upstream.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


def _is_event_stream(upstream: aiohttp.ClientResponse) -> bool:
    return _media_type(upstream) == "text/event-stream"


def _is_json(upstream: aiohttp.ClientResponse) -> bool:
    if upstream.status in (204, 304):
        return False
    ctype = _media_type(upstream)
    return ctype == "application/json" or (
        ctype.startswith("application/") and ctype.endswith("+json")
    )


async def _read_limited(upstream: aiohttp.ClientResponse, limit: int) -> bytes:
    if upstream.content_length is not None and upstream.content_length > limit:
        upstream.close()
        raise refusals.response_too_large(limit)
    chunks, size = [], 0
    try:
        while chunk := await upstream.content.readany():
            size += len(chunk)
            if size > limit:
                upstream.close()
                raise refusals.response_too_large(limit)
            chunks.append(chunk)
    except (TimeoutError, aiohttp.ClientError) as exc:
        upstream.close()
        failure = upstream_failure(exc)
        log.warning(failure.kind, error=repr(exc))
        raise refusals.upstream_failed(failure) from None
    return b"".join(chunks)


def _decode(body: bytes, encoding: str, limit: int) -> bytes | None:
    """The body without its content coding (gzip, deflate), or None when it cannot be read."""
    if encoding in ("", "identity"):
        return body
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
    if encoding not in wbits:
        return None
    inflater = zlib.decompressobj(wbits[encoding])
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error:
        return None
    if len(out) > limit:
        raise refusals.response_too_large(limit)
    return out


def _parse(text: bytes | None) -> Any:
    if text is None:
        return _NOT_JSON
    try:
        return json_codec.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _NOT_JSON
