"""Canary routes: start, status, promote, abort, and the route sidecars poll. The work is
registry/canary; a policy refusal is the promote's 403 policy-denied, naming the canary too."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from registry.api.agents import AGENT
from registry.api.context import ctx_of, json_response
from registry.api.lifecycle import LIFECYCLE, body_of, single_values
from registry.canary.models import AbortRequest, CanaryRequest
from registry.lifecycle.models import NAME as ENVIRONMENT_PATTERN

routes = web.RouteTableDef()
CANARY = AGENT + "/canary"
ROUTE = AGENT + "/route"


class EnvironmentQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    environment: str = Field(default="production", pattern=ENVIRONMENT_PATTERN)


def _environment(request: web.Request) -> str:
    return EnvironmentQuery.model_validate(single_values(request)).environment


def _agent(request: web.Request) -> str:
    return request.match_info["agent_id"]


@routes.post(CANARY)
async def start(request: web.Request) -> web.Response:
    req = await body_of(request, CanaryRequest)
    canary = await request.app[LIFECYCLE].start_canary(ctx_of(request), _agent(request), req)
    query = f"?environment={canary.environment}"
    return json_response(canary, status=201, headers={"Location": f"{request.path}{query}"})


@routes.get(CANARY)
async def status(request: web.Request) -> web.Response:
    found = await request.app[LIFECYCLE].canary_status(_agent(request), _environment(request))
    return json_response(found)


@routes.post(CANARY + "/promote")
async def promote(request: web.Request) -> web.Response:
    env = _environment(request)
    done = await request.app[LIFECYCLE].promote_canary(ctx_of(request), _agent(request), env)
    return json_response(done)


@routes.post(CANARY + "/abort")
async def abort(request: web.Request) -> web.Response:
    req = await body_of(request, AbortRequest, optional=True)
    env = _environment(request)
    done = await request.app[LIFECYCLE].abort_canary(
        ctx_of(request), _agent(request), env, req.reason
    )
    return json_response(done)


@routes.get(ROUTE)
async def route(request: web.Request) -> web.Response:
    found = await request.app[LIFECYCLE].route(_agent(request), _environment(request))
    return json_response(found)
