"""Lifecycle routes: promote (deploy), roll back, deprecate, retire, and /api/v1/deployments
(read, approve, undeploy). The work is registry/lifecycle; a policy refusal is a 403
policy-denied problem naming the violations and the pending deployment to approve."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, Field

from registry.api.agents import AGENT, VERSION
from registry.api.context import ctx_of, json_response
from registry.api.uploads import read_limited
from registry.errors import BadRequest, UnsupportedMediaType
from registry.lifecycle.manager import LifecycleManager
from registry.lifecycle.models import NAME as ENVIRONMENT_PATTERN
from registry.lifecycle.models import (
    ApprovalRequest,
    DeploymentStatus,
    DeployRequest,
    DeprecateRequest,
    RetireRequest,
    RollbackRequest,
)

routes = web.RouteTableDef()
LIFECYCLE = web.AppKey("lifecycle", LifecycleManager)
DEPLOYMENTS = "/api/v1/deployments"
DEPLOYMENT = DEPLOYMENTS + "/{deployment_id:[a-z0-9][a-z0-9-]{0,63}}"
MAX_BODY = 64 * 1024
M = TypeVar("M", bound=BaseModel)


class DeploymentQuery(BaseModel):
    """GET /api/v1/deployments filters."""

    agent_id: str | None = Field(default=None, max_length=64)
    environment: str | None = Field(default=None, pattern=ENVIRONMENT_PATTERN)
    status: DeploymentStatus | None = None
    limit: int = Field(default=100, ge=1, le=1000)


async def body_of(request: web.Request, model: type[M], optional: bool = False) -> M:
    """A small JSON body as `model` (an absent body is `{}` when `optional`)."""
    raw = await read_limited(request, MAX_BODY, "body")
    if optional and not raw.strip():
        return model.model_validate({})
    if request.content_type != "application/json":
        raise UnsupportedMediaType("send application/json")
    return model.model_validate_json(raw)


def single_values(request: web.Request) -> dict[str, Any]:
    """The query as one value per key (an empty value is absent); a repeated key is a 400."""
    raw: dict[str, Any] = {}
    for key in request.query:
        values = request.query.getall(key)
        if len(values) > 1:
            raise BadRequest(f"query parameter {key!r} given more than once")
        if values[0]:
            raw[key] = values[0]
    return raw


def _query(request: web.Request) -> DeploymentQuery:
    return DeploymentQuery.model_validate(single_values(request))


@routes.post(AGENT + "/deploy")
async def deploy(request: web.Request) -> web.Response:
    req = await body_of(request, DeployRequest)
    outcome = await request.app[LIFECYCLE].promote(
        ctx_of(request), request.match_info["agent_id"], req
    )
    d = outcome.deployment
    headers = {"Location": f"{DEPLOYMENTS}/{d.deployment_id}"}
    return json_response(d, status=201 if outcome.created else 200, headers=headers)


@routes.post(AGENT + "/rollback")
async def rollback(request: web.Request) -> web.Response:
    req = await body_of(request, RollbackRequest)
    d = await request.app[LIFECYCLE].rollback(ctx_of(request), request.match_info["agent_id"], req)
    return json_response(d, status=201, headers={"Location": f"{DEPLOYMENTS}/{d.deployment_id}"})


@routes.post(VERSION + "/deprecate")
async def deprecate(request: web.Request) -> web.Response:
    req = await body_of(request, DeprecateRequest)
    v = await request.app[LIFECYCLE].deprecate(
        ctx_of(request), request.match_info["agent_id"], request.match_info["version"], req
    )
    return json_response(v, headers={"ETag": f'"{v.row_version}"'})


@routes.post(VERSION + "/retire")
async def retire(request: web.Request) -> web.Response:
    req = await body_of(request, RetireRequest, optional=True)
    v = await request.app[LIFECYCLE].retire(
        ctx_of(request), request.match_info["agent_id"], request.match_info["version"], req
    )
    return json_response(v, headers={"ETag": f'"{v.row_version}"'})


@routes.get(DEPLOYMENTS)
async def list_deployments(request: web.Request) -> web.Response:
    q = _query(request)
    found = await request.app[LIFECYCLE].list_deployments(
        q.agent_id, q.environment, q.status, q.limit
    )
    return json_response(found)


@routes.get(DEPLOYMENT)
async def get_deployment(request: web.Request) -> web.Response:
    found = await request.app[LIFECYCLE].get_deployment(request.match_info["deployment_id"])
    return json_response(found)


@routes.post(DEPLOYMENT + "/approvals")
async def approve(request: web.Request) -> web.Response:
    req = await body_of(request, ApprovalRequest, optional=True)
    outcome = await request.app[LIFECYCLE].approve(
        ctx_of(request), request.match_info["deployment_id"], req
    )
    return json_response(outcome.deployment)


@routes.delete(DEPLOYMENT)
async def undeploy(request: web.Request) -> web.Response:
    reason = request.query.get("reason", "")
    if len(reason) > 1000:
        raise BadRequest("reason is longer than 1000 characters")
    d = await request.app[LIFECYCLE].undeploy(
        ctx_of(request), request.match_info["deployment_id"], reason
    )
    return json_response(d)
