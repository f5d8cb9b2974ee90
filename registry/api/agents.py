"""/api/v1/agents: register, read, search, change status, download artifacts, soft delete."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from registry.api.context import SERVICE, SETTINGS, ctx_of, json_response
from registry.api.uploads import cleanup, read_limited, read_registration
from registry.artifacts.port import ArtifactIntegrityError, ArtifactNotFound
from registry.catalog.models import SearchQuery, StatusChange
from registry.catalog.spec import AGENT_ID_PATTERN
from registry.errors import BadRequest, NotFound, PreconditionFailed

routes = web.RouteTableDef()
AGENT = "/api/v1/agents/{agent_id:" + AGENT_ID_PATTERN.strip("^$") + "}"
VERSION = AGENT + "/versions/{version:[^/]{1,128}}"
LIST_PARAMS = {"tags", "regulatory_scope"}


@routes.post("/api/v1/agents")
async def register(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    reg = await read_registration(request, settings.spool_dir, settings.max_artifact_bytes)
    with cleanup(reg.artifact):
        entry, _created = await request.app[SERVICE].register(
            ctx_of(request), reg.spec, reg.artifact, reg.certificate_id
        )
    location = f"/api/v1/agents/{entry.agent_id}/versions/{reg.spec.version}"
    return json_response(entry, status=201, headers={"Location": location})


def parse_search(request: web.Request) -> SearchQuery:
    raw: dict[str, Any] = {}
    for key in request.query:
        values = request.query.getall(key)
        if key in LIST_PARAMS:
            raw[key] = [v for value in values for v in value.split(",") if v]
        elif len(values) > 1:
            raise BadRequest(f"query parameter {key!r} given more than once")
        elif key == "query":
            raw[key] = values[0]
        else:
            raw[key] = values[0] or None
    return SearchQuery.model_validate(raw)


@routes.get("/api/v1/agents/search")
@routes.get("/api/v1/agents")  # listing is a search without text: same filters and pages
async def search(request: web.Request) -> web.Response:
    result = await request.app[SERVICE].search(parse_search(request))
    return json_response(result)


@routes.get(AGENT)
async def get_agent(request: web.Request) -> web.Response:
    return json_response(await request.app[SERVICE].get_agent(request.match_info["agent_id"]))


@routes.delete(AGENT)
async def delete_agent(request: web.Request) -> web.Response:
    reason = request.query.get("reason", "")
    if len(reason) > 2000:
        raise BadRequest("reason is longer than 2000 characters")
    entry = await request.app[SERVICE].delete_agent(
        ctx_of(request), request.match_info["agent_id"], reason
    )
    return json_response(entry)


@routes.get(AGENT + "/versions")
async def list_versions(request: web.Request) -> web.Response:
    entry = await request.app[SERVICE].get_agent(request.match_info["agent_id"])
    return json_response(entry.versions)


@routes.get(VERSION)
async def get_version(request: web.Request) -> web.Response:
    v = await request.app[SERVICE].get_version(
        request.match_info["agent_id"], request.match_info["version"]
    )
    return json_response(v, headers={"ETag": f'"{v.row_version}"'})


def _if_match(request: web.Request) -> int | None:
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    value = raw.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise PreconditionFailed(f"If-Match {raw!r} is not an ETag this API issued")
    return int(value)


@routes.patch(VERSION)
async def change_status(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="send application/json")
    change = StatusChange.model_validate_json(await _small_body(request))
    v = await request.app[SERVICE].change_status(
        ctx_of(request),
        request.match_info["agent_id"],
        request.match_info["version"],
        change,
        _if_match(request),
    )
    return json_response(v, headers={"ETag": f'"{v.row_version}"'})


async def _small_body(request: web.Request, limit: int = 64 * 1024) -> bytes:
    return await read_limited(request, limit, "body")


@routes.get(VERSION + "/artifact")
async def download_artifact(request: web.Request) -> web.StreamResponse:
    v, chunks = await request.app[SERVICE].open_artifact(
        request.match_info["agent_id"], request.match_info["version"]
    )
    etag = f'"{v.artifact_sha256}"'
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers={"ETag": etag})
    try:
        first = await anext(chunks, b"")
    except ArtifactNotFound:
        raise NotFound(f"artifact bytes of {v.version} are missing from the store") from None
    response = web.StreamResponse(
        headers={
            "ETag": etag,
            "Content-Type": "application/octet-stream",
            "Content-Length": str(v.artifact_size),
            "Digest": f"sha-256={v.artifact_sha256}",
        }
    )
    await response.prepare(request)
    # Hold back one chunk: the last one goes out only after the store verified the sha256, so
    # a corrupt blob never reaches the client whole (it sees a short body instead).
    pending = first
    try:
        async for chunk in chunks:
            await response.write(pending)
            pending = chunk
    except ArtifactIntegrityError:
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write(pending)
    await response.write_eof()
    return response
