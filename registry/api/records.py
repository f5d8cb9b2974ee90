"""/api/v1/certificates and /api/v1/audit."""

from __future__ import annotations

from aiohttp import web

from registry.api.context import SERVICE, ctx_of, json_response
from registry.errors import BadRequest, UnsupportedMediaType
from registry.models import AuditFilter, CertificateRequest

routes = web.RouteTableDef()


@routes.post("/api/v1/certificates")
async def issue_certificate(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        raise UnsupportedMediaType("send application/json")
    if (request.content_length or 0) > 64 * 1024:
        raise BadRequest("body too large")
    req = CertificateRequest.model_validate_json(await request.read())
    cert = await request.app[SERVICE].issue_certificate(ctx_of(request), req)
    return json_response(
        cert, status=201, headers={"Location": f"/api/v1/certificates/{cert.certificate_id}"}
    )


@routes.get("/api/v1/certificates/{certificate_id:[A-Za-z0-9._-]{1,200}}")
async def get_certificate(request: web.Request) -> web.Response:
    cert = await request.app[SERVICE].get_certificate(request.match_info["certificate_id"])
    return json_response(cert)


@routes.get("/api/v1/audit")
async def list_audit(request: web.Request) -> web.Response:
    if any(len(request.query.getall(k)) > 1 for k in request.query):
        raise BadRequest("each audit filter may be given once")
    f = AuditFilter.model_validate(dict(request.query))
    return json_response(await request.app[SERVICE].list_audit(f))
