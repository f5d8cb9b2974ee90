"""Request plumbing: request ids, problem+json for every error, bearer-token auth, metrics."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import ValidationError

from registry.auth.principal import Principal
from registry.auth.tokens import TokenResolver
from registry.errors import PROBLEM_BASE, BadRequest, Problem, Unauthorized, ValidationFailed

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = structlog.get_logger("registry.api")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
UNSTORABLE_TEXT = (
    asyncpg.exceptions.CharacterNotInRepertoireError,
    asyncpg.exceptions.UntranslatableCharacterError,
)
PRINCIPAL = web.AppKey("resolver", TokenResolver)
REQUEST_ID = web.RequestKey("request_id", str)
CALLER = web.RequestKey("principal", Principal)


def problem_response(
    body: dict[str, object], headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=int(body["status"]),  # type: ignore[call-overload]
        text=json.dumps(body),
        content_type="application/problem+json",
        headers=headers,
    )


def validation_problem(exc: ValidationError) -> ValidationFailed:
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
        for e in exc.errors()
    ]
    return ValidationFailed(
        "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
    )


def _http_problem(exc: web.HTTPException, instance: str) -> dict[str, object]:
    slug = re.sub(r"[^a-z]+", "-", exc.reason.lower()).strip("-")
    detail = exc.text if exc.text and not exc.text.startswith(str(exc.status)) else exc.reason
    return {
        "type": PROBLEM_BASE + slug,
        "title": exc.reason,
        "status": exc.status,
        "detail": detail,
        "instance": instance,
    }


@web.middleware
async def errors_and_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every request an id; turn every failure into problem+json (never a stack trace)."""
    incoming = request.headers.get("X-Request-Id", "")
    request_id = incoming if _REQUEST_ID.match(incoming) else str(uuid.uuid4())
    request[REQUEST_ID] = request_id
    try:
        response = await handler(request)
    except Problem as exc:
        response = problem_response(exc.body(request.path))
    except ValidationError as exc:
        response = problem_response(validation_problem(exc).body(request.path))
    except UNSTORABLE_TEXT:
        # Always the caller's input (a NUL character, which PostgreSQL text and jsonb cannot
        # hold), wherever it got past validation.
        detail = "the request holds text that cannot be stored (NUL characters)"
        response = problem_response(BadRequest(detail).body(request.path))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        keep = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        response = problem_response(_http_problem(exc, request.path), keep)
    except Exception:
        log.exception("unhandled error", path=request.path, request_id=request_id)
        response = problem_response(
            {
                "type": PROBLEM_BASE + "internal-error",
                "title": "Internal error",
                "status": 500,
                "detail": f"unexpected error; quote request id {request_id}",
            }
        )
    response.headers["X-Request-Id"] = request_id
    return response


@web.middleware
async def bearer_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every /api/v1 call needs `Authorization: Bearer <token>`."""
    if request.path.startswith("/api/v1"):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send Authorization: Bearer <token>")
        principal = await request.app[PRINCIPAL].resolve(token.strip())
        if principal is None:
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
