"""Canary routing: which version's sidecars serve a call, and forwarding it there.

Given the route (sidecar/route_poller.py) and its own serving version V, a sidecar
- of the stable version sends ``canary.weight`` percent of calls (sticky per JWT ``sub``,
  sidecar/traffic_split.py) to the canary's sidecars and serves the rest;
- of the canary version serves everything;
- of any other version (draining after a promotion or rollback) sends everything to stable;
- without a route, a version or endpoints, serves everything.

A forwarded call passes through unchanged (streamed both ways, every end-to-end header) with
``X-GreenLang-Routed: V``, and a call carrying that header is never routed again. The serving
sidecar governs and audits it; the forwarding one only counts it. When no connection to the
target could be made, nothing was sent and the call is served locally instead.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import aiohttp
import structlog
from aiohttp import web
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer
from yarl import URL

from kernel.problems import problem_response
from kernel.route import Route, RouteBackend
from sidecar import tracing
from sidecar.auth import PRINCIPAL, Authenticator, AuthError
from sidecar.deprecation import SERVING_VERSION
from sidecar.metrics import SidecarMetrics
from sidecar.proxy import ReverseProxy, UpstreamError
from sidecar.traffic_split import choose

log = structlog.get_logger("sidecar.route")

ROUTED_HEADER: Final = "X-GreenLang-Routed"
VERSION_HEADER: Final = "X-GreenLang-Version"
ROUTE_TO_VERSION: Final = "greenlang.route.to_version"  # span attributes
ROUTE_FALLBACK: Final = "greenlang.route.fallback"
_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0", "::"})


@dataclass(frozen=True, slots=True)
class Plan:
    """Send ``weight`` percent of calls (100: all of them) to ``backend`` at ``endpoints``."""

    backend: RouteBackend
    endpoints: tuple[str, ...]  # base URLs, the sidecar's own address left out
    weight: int


def plan(route: Route | None, version: str | None, is_self: Callable[[str], bool]) -> Plan | None:
    """What a sidecar serving ``version`` does under ``route`` (None: serve every call)."""
    if route is None or version is None:
        return None
    stable, canary = route.stable, route.canary
    if canary is not None and version == canary.version:
        return None
    if stable is not None and version == stable.version:
        if canary is None or canary.weight == 0:
            return None
        return _plan(canary, canary.weight, is_self)
    return None if stable is None else _plan(stable, 100, is_self)


def _plan(backend: RouteBackend, weight: int, is_self: Callable[[str], bool]) -> Plan | None:
    endpoints = tuple(e for e in (endpoint_base(x) for x in backend.endpoints) if not is_self(e))
    return Plan(backend, endpoints, weight) if endpoints else None


def forwards(p: Plan, caller_key: str | None, rng: random.Random) -> bool:
    """Whether this call goes to ``p.backend`` (sticky per ``caller_key``)."""
    return choose(p.weight, caller_key, rng) == "canary"


def endpoint_base(endpoint: str) -> str:
    """An endpoint as a base URL: ``host:port`` means ``http://host:port``; no trailing slash."""
    text = endpoint.strip()
    if "://" not in text:
        text = f"http://{text}"
    return text.rstrip("/")


def own_address(host: str, port: int) -> Callable[[str], bool]:
    """Whether a base URL is this sidecar's own listener (``host:port``), loopback aliases
    included, so a route listing it never makes the sidecar call itself."""
    hosts = {host.strip("[]").lower()}
    if hosts & _LOOPBACK:
        hosts |= _LOOPBACK

    def is_self(base: str) -> bool:
        try:
            url = URL(base)
        except ValueError:
            return False
        return url.port == port and (url.host or "").strip("[]").lower() in hosts

    return is_self


class Router:
    """The plan for the current route and version, and the forwarding of a routed call."""

    def __init__(
        self,
        route_of: Callable[[], Route | None],
        *,
        agent_id: str,
        proxy: ReverseProxy,
        authenticator: Authenticator,
        metrics: SidecarMetrics,
        tracer: Tracer,
        is_self: Callable[[str], bool],
        connect_timeout_s: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        self._route_of = route_of
        self._agent_id = agent_id
        self._proxy, self._authenticator = proxy, authenticator
        self._metrics, self._tracer = metrics, tracer
        self._is_self = is_self
        self._rng = rng or random.Random()
        self._turn = itertools.count()
        # The read timeout is the serving sidecar's to apply (its obligations); never cut here.
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=connect_timeout_s, sock_read=None
        )
        self._weight = metrics.canary_weight.labels(agent_id)
        self._key: tuple[Route | None, str | None] | None = None
        self._plan: Plan | None = None

    def plan(self, version: str | None) -> Plan | None:
        """The plan for ``version`` under the current route (recomputed when either changed)."""
        route = self._route_of()
        key = (route, version)
        if self._key is None or key[0] is not self._key[0] or version != self._key[1]:
            self._plan = plan(route, version, self._is_self)
            self._key = key
            applied = self._plan.weight if self._plan and version == _stable(route) else 0
            self._weight.set(applied)
        return self._plan

    async def route(
        self, request: web.Request, p: Plan, version: str, request_id: str
    ) -> web.StreamResponse | None:
        """The routed answer, or None when the call is to be served here."""
        if ROUTED_HEADER in request.headers:
            return None  # routed once already: never again (no loops)
        key = None
        if p.weight < 100:
            try:
                principal = await self._authenticator.authenticate(
                    request.headers.get("Authorization")
                )
            except AuthError:
                return None  # the pipeline answers 401
            request[PRINCIPAL] = principal
            key = principal.id
        if not forwards(p, key, self._rng):
            return None
        return await self._forward(request, p, version, request_id)

    async def _forward(
        self, request: web.Request, p: Plan, version: str, request_id: str
    ) -> web.StreamResponse | None:
        endpoint = p.endpoints[next(self._turn) % len(p.endpoints)]
        to_version = p.backend.version
        with self._tracer.start_as_current_span(
            "sidecar.route",
            context=tracing.extract(request.headers),
            kind=SpanKind.SERVER,
            attributes={
                tracing.AGENT_ID: self._agent_id,
                tracing.AGENT_VERSION: version,
                ROUTE_TO_VERSION: to_version,
            },
        ) as span:
            headers = self._proxy.upstream_headers(request, request_id)
            tracing.inject(headers)
            headers[ROUTED_HEADER] = version
            try:
                upstream = await self._proxy.open(
                    request, headers, client_timeout=self._timeout, base=endpoint
                )
            except UpstreamError as exc:
                if exc.connect_failed:
                    log.warning("route_target_unreachable", endpoint=endpoint, to=to_version)
                    self._metrics.route_fallbacks.labels(self._agent_id, to_version).inc()
                    span.set_attribute(ROUTE_FALLBACK, True)  # served here after all
                    return None
                span.set_status(trace.StatusCode.ERROR, exc.detail)
                self._count(version, to_version)
                body = exc.body(request.path, request_id)
                return problem_response(body, ((VERSION_HEADER, version),))
            self._count(version, to_version)
            span.set_attribute(tracing.HTTP_STATUS, upstream.status)
            try:
                return await self._proxy.stream_back(request, upstream, request_id)
            finally:
                upstream.release()

    def _count(self, version: str, to_version: str) -> None:
        self._metrics.routed_calls.labels(self._agent_id, version, to_version).inc()


def _stable(route: Route | None) -> str | None:
    return route.stable.version if route is not None and route.stable is not None else None


async def version_header(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: ``X-GreenLang-Version`` on every answer this sidecar served
    (the enforcer put its version in ``request[SERVING_VERSION]``; a routed call has none, so
    the serving sidecar's header passes through)."""
    version = request.get(SERVING_VERSION)
    if version is not None:
        response.headers[VERSION_HEADER] = version
