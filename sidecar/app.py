"""Assemble a running sidecar: proxy listener, admin listener, policy source, audit sink.

`Sidecar` owns every long-lived part and starts/stops them in order, so tests, the CLI and the
benchmark run the same object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

from aiohttp import web
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer

from sidecar.admin import create_admin_app
from sidecar.audit_shipper import AuditShipper
from sidecar.audit_sink import AuditSink, LogAuditSink, SpoolAuditSink
from sidecar.audit_spool import AuditSpool
from sidecar.auth import Authenticator
from sidecar.call import Target
from sidecar.decision_input import InputKeeper
from sidecar.decisions import DecisionCache
from sidecar.deprecation import DeprecationHeaders
from sidecar.enforcer import Enforcer
from sidecar.io_sample import IoSampler
from sidecar.metrics import SidecarMetrics
from sidecar.policy_source import PolicySource
from sidecar.proxy import PROXY, ReverseProxy
from sidecar.rate import SlidingWindowCounter
from sidecar.rate_port import RateCounter, TokenCounter
from sidecar.rate_tokens import TokenWindowCounter
from sidecar.route_poller import STATE_FILE, RoutePoller
from sidecar.router import Router, own_address, version_header
from sidecar.tracing import setup_tracing, shutdown


class SharedStore(Protocol):
    async def close(self) -> None: ...


S = TypeVar("S", bound=SharedStore)


@dataclass
class Listen:
    host: str
    port: int


@dataclass
class Sidecar:
    target: Target
    upstream: str
    listen: Listen
    admin_listen: Listen
    source: PolicySource
    authenticator: Authenticator
    sink: AuditSink = field(default_factory=LogAuditSink)
    fail_open: bool = False
    connect_timeout_s: float = 5.0
    decision_cache_ttl_s: float = 1.0
    tracer_provider: TracerProvider | None = None
    metrics: SidecarMetrics = field(default_factory=SidecarMetrics)
    registry_url: str | None = None  # where `Link: rel="successor-version"` points
    # Canary routing: poll the registry's route every route_poll_s seconds (0: no routing).
    route_poll_s: float = 0.0
    registry_token: str | None = None
    route_state_dir: Path | None = None  # keeps the last good route across restarts
    log_sample_rate: float = 0.0  # fraction of calls logged with their bodies (io_sample)
    log_sample_bytes: int = 4096  # cap per logged body
    keep_decision_inputs: bool = True  # audit events keep the masked decision input (replay)
    # Count callers' rates (and tokens, for token budgets) in this Redis (redis://host:port/db),
    # shared by the agent's replicas; while it is away refuse calls (503), or count in process
    # with rate_store_fail_open.
    rate_store_url: str | None = None
    rate_store_fail_open: bool = False

    def __post_init__(self) -> None:
        self._stores: list[SharedStore] = []  # counters in the shared rate store
        self.proxy = ReverseProxy(self.upstream, connect_timeout=self.connect_timeout_s)
        if self.tracer_provider is None:
            self.tracer_provider = setup_tracing()
        tracer = self.tracer_provider.get_tracer("greenlang.sidecar")
        self.route_poller = self._route_poller()
        self.enforcer = Enforcer(
            target=self.target,
            proxy=self.proxy,
            source=self.source,
            authenticator=self.authenticator,
            rate=self._rate(),
            tokens=self._tokens(),
            sink=self.sink,
            metrics=self.metrics,
            tracer=tracer,
            fail_open=self.fail_open,
            connect_timeout_s=self.connect_timeout_s,
            cache=DecisionCache(self.decision_cache_ttl_s),
            router=self._router(self.route_poller, tracer),
            sampler=IoSampler(self.log_sample_rate, self.log_sample_bytes),
            inputs=InputKeeper(self.metrics.registry) if self.keep_decision_inputs else None,
        )
        self.metrics.track_audit_spool(self.sink.pending)
        self._runners: list[web.AppRunner] = []

    def _rate(self) -> RateCounter:
        window = self.target.rate_window_s
        if self.rate_store_url is None:
            return SlidingWindowCounter(window)
        from sidecar.rate_redis import RedisRateStore  # only sidecars that share load redis

        return self._shared(RedisRateStore, SlidingWindowCounter, window)

    def _tokens(self) -> TokenCounter:
        """Counted only for callers a token budget may apply to (the enforcer asks the bundle)."""
        window = self.target.token_window_s
        if self.rate_store_url is None:
            return TokenWindowCounter(window)
        from sidecar.rate_tokens_redis import RedisTokenStore

        return self._shared(RedisTokenStore, TokenWindowCounter, window)

    def _shared(self, kind: Callable[..., S], local: Callable[[float], Any], window: float) -> S:
        """A counter in the shared store, counting in a ``local`` one while the store is away
        when failing open; closed with the sidecar."""
        from sidecar.rate_redis import redis_client

        assert self.rate_store_url is not None
        store = kind(
            redis_client(self.rate_store_url),
            self.target.agent_id,
            window,
            fallback=local(window) if self.rate_store_fail_open else None,
            on_state=self.metrics.set_rate_store_up,
        )
        self._stores.append(store)
        return store

    def _route_poller(self) -> RoutePoller | None:
        if self.registry_url is None or self.route_poll_s <= 0:
            return None
        return RoutePoller(
            self.registry_url,
            self.target.agent_id,
            self.target.environment or "production",
            token=self.registry_token,
            interval_s=self.route_poll_s,
            metrics=self.metrics,
            state_file=self.route_state_dir / STATE_FILE if self.route_state_dir else None,
        )

    def _router(self, poller: RoutePoller | None, tracer: Tracer) -> Router | None:
        if poller is None:
            return None
        return Router(
            lambda: poller.route,
            agent_id=self.target.agent_id,
            proxy=self.proxy,
            authenticator=self.authenticator,
            metrics=self.metrics,
            tracer=tracer,
            is_self=own_address(self.listen.host, self.listen.port),
            connect_timeout_s=self.connect_timeout_s,
        )

    def proxy_app(self) -> web.Application:
        # The server must not decompress request bodies: they pass byte-for-byte.
        app = web.Application(handler_args={"auto_decompress": False}, client_max_size=0)
        app[PROXY] = self.proxy
        app.router.add_route("*", "/{tail:.*}", self.enforcer.handle)
        notice_of = partial(self.source.notice, self.target.agent_id)
        app.on_response_prepare.append(DeprecationHeaders(notice_of, self.registry_url))
        app.on_response_prepare.append(version_header)
        return app

    async def start(self) -> None:
        await self.proxy.start()
        await self.authenticator.start()
        await self.source.start()
        await self.sink.start()
        if self.route_poller is not None:
            await self.route_poller.start()
        for app, where in (
            (self.proxy_app(), self.listen),
            (create_admin_app(self.source, self.metrics), self.admin_listen),
        ):
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            await web.TCPSite(runner, where.host, where.port, reuse_address=True).start()
            self._runners.append(runner)

    async def stop(self) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        if self.route_poller is not None:
            await self.route_poller.close()
        await self.sink.close()
        await self.source.close()
        await self.authenticator.close()
        await self.proxy.close()
        for store in self._stores:
            await store.close()
        if self.tracer_provider is not None:
            shutdown(self.tracer_provider)


def spool_sink(
    directory: Path, registry_url: str, token: str | None, *, max_bytes: int
) -> SpoolAuditSink:
    spool = AuditSpool(directory, max_bytes=max_bytes)
    return SpoolAuditSink(spool, AuditShipper(spool, registry_url, token))
