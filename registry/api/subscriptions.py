"""/api/v1/subscriptions: webhook subscriptions and their deliveries."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from registry.api.context import ctx_of, json_response
from registry.api.uploads import read_limited
from registry.errors import BadRequest, UnsupportedMediaType
from registry.webhooks.models import DeliveryQuery, SubscriptionQuery, SubscriptionRequest
from registry.webhooks.service import SubscriptionService

routes = web.RouteTableDef()
SUBSCRIPTIONS = web.AppKey("subscriptions", SubscriptionService)
SUBSCRIPTION = "/api/v1/subscriptions/{subscription_id:[A-Za-z0-9_-]{1,64}}"
MAX_BODY = 64 * 1024


def _query(request: web.Request, model: type[BaseModel]) -> Any:
    if any(len(request.query.getall(k)) > 1 for k in request.query):
        raise BadRequest("each query parameter may be given once")
    return model.model_validate(dict(request.query))


@routes.post("/api/v1/subscriptions")
async def create(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        raise UnsupportedMediaType("send application/json")
    raw = await read_limited(request, MAX_BODY, "body")
    req = SubscriptionRequest.model_validate_json(raw)
    created = await request.app[SUBSCRIPTIONS].create(ctx_of(request), req)
    location = f"/api/v1/subscriptions/{created.subscription_id}"
    return json_response(created, status=201, headers={"Location": location})


@routes.get("/api/v1/subscriptions")
async def list_subscriptions(request: web.Request) -> web.Response:
    q: SubscriptionQuery = _query(request, SubscriptionQuery)
    return json_response(await request.app[SUBSCRIPTIONS].list_subscriptions(ctx_of(request), q))


@routes.get(SUBSCRIPTION)
async def get(request: web.Request) -> web.Response:
    sid = request.match_info["subscription_id"]
    return json_response(await request.app[SUBSCRIPTIONS].get(ctx_of(request), sid))


@routes.delete(SUBSCRIPTION)
async def delete(request: web.Request) -> web.Response:
    sid = request.match_info["subscription_id"]
    return json_response(await request.app[SUBSCRIPTIONS].delete(ctx_of(request), sid))


@routes.get(SUBSCRIPTION + "/deliveries")
async def deliveries(request: web.Request) -> web.Response:
    q: DeliveryQuery = _query(request, DeliveryQuery)
    sid = request.match_info["subscription_id"]
    found = await request.app[SUBSCRIPTIONS].deliveries(ctx_of(request), sid, q.limit)
    return json_response(found)
