"""/api/v1/policies: policies as code, stored in the registry with history."""

from __future__ import annotations

from aiohttp import web

from kernel import strict_json
from registry.api.context import ctx_of, json_response
from registry.api.uploads import read_limited
from registry.control_plane.policies import PolicyStore
from registry.errors import BadRequest, UnsupportedMediaType, ValidationFailed

routes = web.RouteTableDef()
POLICIES = web.AppKey("policies", PolicyStore)
POLICY = "/api/v1/policies/{policy_id:[a-z0-9][a-z0-9-]{1,63}}"
YAML_TYPES = {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}
MAX_POLICY_BYTES = 256 * 1024


async def _text(request: web.Request) -> bytes:
    return await read_limited(request, MAX_POLICY_BYTES, "policy")


def _reason(raw: bytes) -> str | None:
    if not raw.strip():
        return None
    try:
        body = strict_json.loads(raw)
    except strict_json.JsonBodyError:
        raise BadRequest('body must be JSON like {"reason": "..."}') from None
    if (
        not isinstance(body, dict)
        or set(body) - {"reason"}
        or not isinstance(body.get("reason", ""), str)
    ):
        raise ValidationFailed('body must be {"reason": "..."}')
    return body.get("reason")


@routes.get("/api/v1/policies")
async def list_policies(request: web.Request) -> web.Response:
    return json_response(await request.app[POLICIES].list_all())


@routes.post("/api/v1/policies")
async def create_policy(request: web.Request) -> web.Response:
    if request.content_type not in YAML_TYPES:
        raise UnsupportedMediaType("send the policy YAML as application/yaml")
    try:
        source = (await _text(request)).decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("policy YAML must be UTF-8") from None
    policy = await request.app[POLICIES].create(ctx_of(request), source)
    location = f"/api/v1/policies/{policy['policy_id']}"
    return json_response(policy, status=201, headers={"Location": location})


@routes.get(POLICY)
async def get_policy(request: web.Request) -> web.Response:
    return json_response(await request.app[POLICIES].get(request.match_info["policy_id"]))


async def _toggle(request: web.Request, enabled: bool) -> web.Response:
    reason = _reason(await _text(request))
    policy = await request.app[POLICIES].set_enabled(
        ctx_of(request), request.match_info["policy_id"], enabled, reason
    )
    return json_response(policy)


@routes.post(POLICY + "/enable")
async def enable(request: web.Request) -> web.Response:
    return await _toggle(request, True)


@routes.post(POLICY + "/disable")
async def disable(request: web.Request) -> web.Response:
    return await _toggle(request, False)
