"""Typed application keys and helpers shared by the route modules."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter

from registry.api.middleware import REQUEST_ID, principal_of
from registry.auth.principal import Context
from registry.catalog.service import RegistryService
from registry.control_plane.signing_key import BundleKey
from registry.webhooks.destinations import Destinations


@dataclass(frozen=True)
class ApiSettings:
    spool_dir: Path
    max_artifact_bytes: int
    default_deployer: str = "process"  # of a deployment whose request names none
    webhooks: Destinations = field(default_factory=Destinations)  # where hooks may point
    # signs every served bundle; None: the key kept in the spool dir's parent (the data dir),
    # made on first use (registry/control_plane/signing_key.py)
    bundle_key: BundleKey | None = None


SERVICE = web.AppKey("service", RegistryService)
SETTINGS = web.AppKey("settings", ApiSettings)
_ANY: TypeAdapter[Any] = TypeAdapter(Any)


def ctx_of(request: web.Request) -> Context:
    return Context(principal=principal_of(request), request_id=request.get(REQUEST_ID))


def json_response(
    body: BaseModel | list[Any] | dict[str, Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    if isinstance(body, BaseModel):
        text = body.model_dump_json()
    else:
        text = json.dumps(_ANY.dump_python(body, mode="json"))
    return web.Response(text=text, status=status, content_type="application/json", headers=headers)
