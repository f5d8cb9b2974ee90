"""Request plumbing: request ids, problem+json for every error, bearer-token auth, metrics."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable

import asyncpg
import structlog
from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError
from aiohttp.web_protocol import RequestPayloadError
from asyncpg.exceptions._base import DataError as ArgumentError  # asyncpg's own class for it
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import ValidationError

from kernel.headers import REQUEST_ID_HEADER, bearer_token, request_id_of
from kernel.problems import Problem, ProblemDetails, problem_response
from registry.auth.principal import Principal
from registry.auth.throttle import FailedAuthThrottle
from registry.auth.tokens import TokenResolver
from registry.errors import (
    BadRequest,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
)
from registry.store.availability import RETRY_AFTER_S, UNAVAILABLE

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = structlog.get_logger("registry.api")
UNSTORABLE_TEXT = (
    asyncpg.exceptions.CharacterNotInRepertoireError,
    asyncpg.exceptions.UntranslatableCharacterError,
)
PRINCIPAL = web.AppKey("resolver", TokenResolver)
THROTTLE = web.AppKey("failed_auth_throttle", FailedAuthThrottle)
REQUEST_ID = web.RequestKey("request_id", str)
CALLER = web.RequestKey("principal", Principal)


def validation_problem(exc: ValidationError) -> ValidationFailed:
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
        for e in exc.errors()
    ]
    return ValidationFailed(
        "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
    )


def _http_problem(exc: web.HTTPException) -> Problem:
    if exc.status == 413:  # aiohttp's own body limit: the same problem type as every other 413
        return PayloadTooLarge(f"request body larger than the limit: {exc.text}".strip(": "))
    slug = re.sub(r"[^a-z]+", "-", exc.reason.lower()).strip("-")
    detail = exc.text if exc.text and not exc.text.startswith(str(exc.status)) else exc.reason
    return ProblemDetails(exc.status, slug, exc.reason, detail)


@web.middleware
async def errors_and_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every request an id; turn every failure into problem+json (never a stack trace)."""
    request_id = request[REQUEST_ID] = request_id_of(request)
    headers: dict[str, str] = {}
    try:
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            response = await handler(request)
    except Exception as exc:
        problem = _as_problem(exc)
        if problem is None:
            raise
        if problem is _INTERNAL:
            log.exception("unhandled error", path=request.path, request_id=request_id)
            detail = f"unexpected error; quote request id {request_id}"
            problem = ProblemDetails(500, "internal-error", "Internal error", detail)
        if isinstance(exc, web.HTTPException):
            headers = {k: v for k, v in exc.headers.items() if k.lower() in _KEPT_HEADERS}
        headers.update(problem.headers)
        response = problem_response(problem.body(request.path, request_id), headers)
    response.headers[REQUEST_ID_HEADER] = request_id
    return response


_KEPT_HEADERS = ("allow", "retry-after")
_INTERNAL = Problem("unexpected error")  # marks a failure that is not the caller's doing


def _as_problem(exc: Exception) -> Problem | None:
    """The problem to answer for ``exc``: None for an HTTP redirect (re-raised as it is),
    ``_INTERNAL`` for anything unexpected (a 500 that shows no stack trace)."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, ValidationError):
        return validation_problem(exc)
    if isinstance(exc, UNSTORABLE_TEXT):
        # Always the caller's input (a NUL character, which PostgreSQL text and jsonb cannot
        # hold), wherever it got past validation.
        return BadRequest("the request holds text that cannot be stored (NUL characters)")
    if isinstance(exc, UNAVAILABLE):
        log.warning("database unavailable", error=str(exc), error_type=type(exc).__name__)
        return ServiceUnavailable("the database is unavailable; retry shortly", RETRY_AFTER_S)
    if isinstance(exc, ArgumentError):
        # A query argument asyncpg cannot encode: a request value past its column's range
        # (an integer beyond 64 bits) that got past validation.
        return BadRequest("a value in the request is out of range")
    if isinstance(exc, RequestPayloadError):
        if isinstance(exc.__cause__, ContentEncodingError):
            return BadRequest("the body is not what its Content-Encoding says (gzip, deflate, br)")
        return BadRequest("the body could not be read (truncated or malformed)")
    if isinstance(exc, web.HTTPException):
        return _http_problem(exc) if exc.status >= 400 else None
    return _INTERNAL


@web.middleware
async def bearer_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every /api/v1 call needs `Authorization: Bearer <token>`."""
    if request.path.startswith("/api/v1"):
        token = bearer_token(request.headers.get("Authorization"))
        if token is None:
            raise Unauthorized("send Authorization: Bearer <token>")
        throttle, address = request.app[THROTTLE], request.remote or "unknown"
        if (wait := throttle.retry_after(address)) is not None:
            raise TooManyRequests(
                f"too many failed token attempts from {address}; retry in {wait} s", wait
            )
        principal = await request.app[PRINCIPAL].resolve(token)
        if principal is None:
            throttle.failed(address)
            raise Unauthorized("unknown or revoked token")
        request[CALLER] = principal
    return await handler(request)


def principal_of(request: web.Request) -> Principal:
    return request[CALLER]


class HttpMetrics:
    """Request count and latency by route template, method and status."""

    def __init__(self, registry: CollectorRegistry):
        self.requests = Counter(
            "registry_http_requests_total",
            "HTTP requests handled by the registry",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "registry_http_request_duration_seconds",
            "HTTP request latency",
            ["route", "method"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        start = time.perf_counter()
        response = await handler(request)
        info = request.match_info.route.resource
        route = info.canonical if info is not None else "unmatched"
        self.requests.labels(route, request.method, str(response.status)).inc()
        self.latency.labels(route, request.method).observe(time.perf_counter() - start)
        return response
