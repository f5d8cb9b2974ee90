"""aiohttp application factory for the registry API."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from registry.api import (
    agents,
    bundles,
    canary,
    lifecycle,
    opa,
    policies,
    records,
    replay,
    reports,
    subscriptions,
)
from registry.api.context import SERVICE, SETTINGS, ApiSettings, json_response
from registry.api.fleet_metrics import FleetMetrics
from registry.api.middleware import PRINCIPAL, THROTTLE, HttpMetrics, bearer_auth, errors_and_ids
from registry.api.openapi import openapi_document
from registry.auth.throttle import FailedAuthThrottle
from registry.auth.tokens import TokenResolver
from registry.catalog.service import RegistryService
from registry.control_plane.bundle import BundleServer, validate_policy
from registry.control_plane.policies import PolicyStore
from registry.control_plane.signing_key import load_bundle_key
from registry.lifecycle.manager import LifecycleManager
from registry.lifecycle.policy_gate import PolicyGate
from registry.replay.service import ReplayService
from registry.webhooks.service import SubscriptionService

METRICS = web.AppKey("metrics", CollectorRegistry)
FLEET = web.AppKey("fleet_metrics", FleetMetrics)


async def healthz(request: web.Request) -> web.Response:
    await request.app[SERVICE].store.ping()
    return json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    # agent_certificate_expiry_days: a snapshot read only when stale, days computed now
    await request.app[SERVICE].certificate_expiry.refresh_if_stale()
    await request.app[FLEET].refresh(request.app[SERVICE].store)
    body = generate_latest(request.app[METRICS])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document())


def create_app(service: RegistryService, settings: ApiSettings) -> web.Application:
    registry = CollectorRegistry()
    http_metrics = HttpMetrics(registry)
    # Order: ids/errors outermost so auth failures are problem+json too; metrics see final status.
    app = web.Application(
        middlewares=[http_metrics.middleware, errors_and_ids, bearer_auth],
        client_max_size=1024 * 1024,
    )
    app[SERVICE] = service
    app[SETTINGS] = settings
    app[PRINCIPAL] = TokenResolver(service.store.tokens)
    app[THROTTLE] = FailedAuthThrottle()
    app[METRICS] = registry
    registry.register(service.certificate_expiry)
    app[FLEET] = FleetMetrics(registry)
    policy_store = PolicyStore(service.store, validate_policy)
    app[policies.POLICIES] = policy_store
    key = settings.bundle_key or load_bundle_key(None, settings.spool_dir.parent)
    app[bundles.BUNDLE_KEY] = key
    app[bundles.BUNDLES] = BundleServer(service.store, policy_store, key.signing())
    app[replay.REPLAY] = ReplayService(service.pool, app[bundles.BUNDLES], policy_store)
    app[subscriptions.SUBSCRIPTIONS] = SubscriptionService(service.store, settings.webhooks)
    gate = PolicyGate(app[bundles.BUNDLES])
    app[lifecycle.LIFECYCLE] = LifecycleManager(service, gate, settings.default_deployer)
    settings.spool_dir.mkdir(parents=True, exist_ok=True)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get(bundles.VERIFICATION_KEY, bundles.get_verification_key)
    app.add_routes(agents.routes)
    app.add_routes(records.routes)
    app.add_routes(opa.routes)
    app.add_routes(replay.routes)  # before policies: /policies/replay is not a policy id
    app.add_routes(policies.routes)
    app.add_routes(bundles.routes)
    app.add_routes(subscriptions.routes)
    app.add_routes(lifecycle.routes)
    app.add_routes(canary.routes)
    app.add_routes(reports.routes)
    return app
