"""POST /api/v1/policies/replay: what a draft policy would have decided on recorded traffic."""

from __future__ import annotations

from aiohttp import web

from registry.api.context import ctx_of, json_response
from registry.errors import PayloadTooLarge, UnsupportedMediaType
from registry.replay.models import MAX_POLICY_CHARS, ReplayRequest
from registry.replay.service import ReplayService

routes = web.RouteTableDef()
REPLAY = web.AppKey("replay", ReplayService)
MAX_BODY_BYTES = MAX_POLICY_CHARS * 2


@routes.post("/api/v1/policies/replay")
async def replay(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        raise UnsupportedMediaType('send {"policy": "<yaml>", ...} as application/json')
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"replay request larger than {MAX_BODY_BYTES} bytes")
    body = ReplayRequest.model_validate_json(await request.read())
    return json_response(await request.app[REPLAY].replay(ctx_of(request), body))
