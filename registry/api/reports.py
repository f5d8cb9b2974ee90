"""/api/v1/reports/compliance: the compliance report (docs/reports.md) as JSON, HTML or a
Kubernetes PolicyReport."""

from __future__ import annotations

import json

from aiohttp import web

from registry.api.context import SERVICE, json_response
from registry.errors import BadRequest
from registry.reports.query import ReportQuery
from registry.reports.render_html import render_html
from registry.reports.render_policyreport import render_policyreport
from registry.reports.service import compliance_report

routes = web.RouteTableDef()
COMPLIANCE = "/api/v1/reports/compliance"


@routes.get(COMPLIANCE)
async def compliance(request: web.Request) -> web.Response:
    """Any role may read it (viewer and up): it holds counts, ids and audit metadata only."""
    if any(len(request.query.getall(k)) > 1 for k in request.query):
        raise BadRequest("each report parameter may be given once")
    q = ReportQuery.model_validate(dict(request.query))
    report = await compliance_report(request.app[SERVICE].pool, q)
    if q.format == "html":
        return web.Response(text=render_html(report), content_type="text/html", charset="utf-8")
    if q.format == "policyreport":
        return web.Response(
            text=json.dumps(render_policyreport(report)), content_type="application/json"
        )
    return json_response(report)
