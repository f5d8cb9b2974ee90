"""What the apps read from request headers: the bearer token and the request id."""

from __future__ import annotations

import re
import uuid
from typing import Final

from aiohttp import web

REQUEST_ID_HEADER: Final = "X-Request-Id"
_PLAIN_REQUEST_ID: Final = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def bearer_token(authorization: str | None) -> str | None:
    """The token of a ``Bearer`` Authorization value (scheme case-insensitive, RFC 7235);
    None when there is no value or it is not a bearer credential."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def request_id_of(request: web.BaseRequest) -> str:
    """The caller's X-Request-Id when it is a plain token (what the registry's audit accepts),
    else a new one: no caller can smuggle text into logs and audit records through it."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _PLAIN_REQUEST_ID.match(given) else str(uuid.uuid4())
