"""/api/v1/opa: where OPA instances send status reports and decision logs (OPA's own formats,
so a stock OPA is configured with `services` pointing here)."""

from __future__ import annotations

from aiohttp import web

from registry.api.context import SERVICE, json_response
from registry.api.middleware import principal_of
from registry.auth.models import TELEMETRY_WRITERS
from registry.control_plane import opa_reports
from registry.errors import Forbidden

routes = web.RouteTableDef()
GZIP_MAGIC = b"\x1f\x8b"


def _require_writer(request: web.Request, what: str) -> None:
    role = principal_of(request).role
    if role not in TELEMETRY_WRITERS:
        raise Forbidden(f"{what} needs role service or admin; token has role {role.value}")


async def _json_body(request: web.Request, what: str) -> object:
    raw = await request.read()  # aiohttp already undoes Content-Encoding: gzip, within its limit
    if raw.startswith(GZIP_MAGIC):
        raw = opa_reports.gunzip_limited(raw)
    return opa_reports.parse_json(raw, what)


@routes.post("/api/v1/opa/status")
async def status(request: web.Request) -> web.Response:
    _require_writer(request, "reporting status")
    report = await _json_body(request, "status report")
    instance = await opa_reports.record_status(request.app[SERVICE].store, report)
    return json_response({"instance_id": instance})


@routes.post("/api/v1/opa/logs")
async def logs(request: web.Request) -> web.Response:
    _require_writer(request, "sending decision logs")
    events = await _json_body(request, "decision log batch")
    stored = await opa_reports.record_decisions(request.app[SERVICE].store, events)
    return json_response({"stored": stored})


@routes.get("/api/v1/opa/instances")
async def instances(request: web.Request) -> web.Response:
    return json_response(await opa_reports.list_instances(request.app[SERVICE].store))
