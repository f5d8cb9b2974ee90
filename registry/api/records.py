"""/api/v1/certificates and /api/v1/audit."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from registry.api.context import SERVICE, ctx_of, json_response
from registry.api.middleware import validation_problem
from registry.api.uploads import read_limited
from registry.audit import sidecar_intake
from registry.audit.models import AuditFilter
from registry.auth.models import TELEMETRY_WRITERS
from registry.catalog.models import CertificateRequest
from registry.errors import BadRequest, Forbidden, PayloadTooLarge, UnsupportedMediaType

routes = web.RouteTableDef()
MAX_CERTIFICATE_REQUEST = 64 * 1024
MAX_ERRORS_SHOWN = 20
CERTIFICATE = "/api/v1/certificates/{certificate_id:[A-Za-z0-9._-]{1,200}}"


@routes.post("/api/v1/certificates")
async def issue_certificate(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        raise UnsupportedMediaType("send application/json")
    raw = await read_limited(request, MAX_CERTIFICATE_REQUEST, "certificate request")
    req = CertificateRequest.model_validate_json(raw)
    cert = await request.app[SERVICE].issue_certificate(ctx_of(request), req)
    return json_response(
        cert, status=201, headers={"Location": f"/api/v1/certificates/{cert.certificate_id}"}
    )


@routes.get(CERTIFICATE)
async def get_certificate(request: web.Request) -> web.Response:
    cert = await request.app[SERVICE].get_certificate(request.match_info["certificate_id"])
    return json_response(cert)


@routes.get("/api/v1/audit")
async def list_audit(request: web.Request) -> web.Response:
    if any(len(request.query.getall(k)) > 1 for k in request.query):
        raise BadRequest("each audit filter may be given once")
    f = AuditFilter.model_validate(dict(request.query))
    return json_response(await request.app[SERVICE].list_audit(f))


@routes.post("/api/v1/audit")
async def post_audit_events(request: web.Request) -> web.Response:
    """Sidecar audit events: validated as a whole, stored once per event id."""
    ctx = ctx_of(request)
    if ctx.principal.role not in TELEMETRY_WRITERS:
        raise Forbidden(
            f"reporting audit events needs role service or admin; token has role "
            f"{ctx.principal.role.value}"
        )
    if request.content_type != "application/json":
        raise UnsupportedMediaType("send application/json")
    raw = await read_limited(
        request, sidecar_intake.MAX_BATCH_BYTES, "audit batch (send smaller batches)"
    )
    try:
        batch = sidecar_intake.SidecarBatch.model_validate_json(raw)
    except ValidationError as exc:
        if any(e["loc"] == ("events",) and e["type"] == "too_long" for e in exc.errors()):
            raise PayloadTooLarge(
                f"at most {sidecar_intake.MAX_EVENTS} events per batch; send smaller batches"
            ) from None
        errors = validation_problem(exc).extras["errors"]
        shown = errors[:MAX_ERRORS_SHOWN]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in shown)
        if len(errors) > len(shown):
            detail += f"; and {len(errors) - len(shown)} more"
        raise BadRequest(detail, errors=shown) from None
    service = request.app[SERVICE]
    result = await sidecar_intake.store_events(service.pool, batch, ctx.principal)
    for agent_id in {e["agent_id"] for e in batch.events}:  # usage changed (others: notified)
        service.entries.evict(agent_id)
    return json_response(result)
