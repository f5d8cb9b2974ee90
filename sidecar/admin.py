"""The admin listener: /metrics, /healthz, /readyz — kept off the proxied port so an agent's
own paths never collide with them and they can be bound to a private interface."""

from __future__ import annotations

from aiohttp import web

from sidecar.metrics import SidecarMetrics
from sidecar.policy_source import PolicySource


def create_admin_app(source: PolicySource, metrics: SidecarMetrics) -> web.Application:
    shown: list[str | None] = [None]  # the bundle revision sidecar_bundle_info shows

    async def metrics_endpoint(request: web.Request) -> web.Response:
        revision = source.revision
        if revision is not None and revision != shown[0]:
            metrics.set_bundle(revision)
            shown[0] = revision
        checked = getattr(source, "last_success", None)  # only a polled bundle has one
        if checked is not None:
            metrics.set_bundle_checked(checked)
        metrics.set_bundle_verification_failures(getattr(source, "verification_failures", 0))
        body, content_type = metrics.render(request.headers.get("Accept"))
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        reason = await source.not_ready_reason()
        if reason is None:
            return web.json_response({"status": "ready", "revision": source.revision})
        return web.json_response({"status": "not ready", "reason": reason}, status=503)

    app = web.Application()
    app.router.add_get("/metrics", metrics_endpoint)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
