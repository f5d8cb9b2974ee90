"""POST /api/v1/policies/replay: what a draft policy would have decided on recorded traffic."""

from __future__ import annotations

from aiohttp import web

from registry.api.context import ctx_of, json_response
from registry.api.uploads import read_limited
from registry.errors import UnsupportedMediaType
from registry.replay.models import MAX_POLICY_CHARS, ReplayRequest
from registry.replay.service import ReplayService

routes = web.RouteTableDef()
REPLAY = web.AppKey("replay", ReplayService)
MAX_BODY_BYTES = MAX_POLICY_CHARS * 2


@routes.post("/api/v1/policies/replay")
async def replay(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        raise UnsupportedMediaType('send {"policy": "<yaml>", ...} as application/json')
    raw = await read_limited(request, MAX_BODY_BYTES, "replay request")
    body = ReplayRequest.model_validate_json(raw)
    return json_response(await request.app[REPLAY].replay(ctx_of(request), body))
