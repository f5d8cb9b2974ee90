"""RFC 9457 problem details: the one error shape of every GreenLang HTTP answer.

A problem always carries ``type``, ``title``, ``status``, ``detail``, ``instance`` (the request
path) and ``request_id`` (also sent as ``X-Request-Id``); a problem may add members of its own
(``errors`` of a validation failure, ``violations`` of a policy denial). Apps raise a
:class:`Problem` subclass wherever they stop a request and render it at one place with
:func:`problem_response`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

from aiohttp import web
from multidict import CIMultiDict

from kernel.headers import REQUEST_ID_HEADER

PROBLEM_BASE: Final = "https://greenlang.dev/problems/"
PROBLEM_JSON: Final = "application/problem+json"


def problem_body(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    instance: str,
    request_id: str,
    extras: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The problem document; ``extras`` add members after the standard ones."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": request_id,
    }
    if extras:
        body.update(extras)
    return body


def problem_response(
    body: dict[str, Any], headers: Iterable[tuple[str, str]] | Mapping[str, str] = ()
) -> web.Response:
    """``body`` (see :func:`problem_body`) as an ``application/problem+json`` response."""
    out: CIMultiDict[str] = CIMultiDict(headers)
    out[REQUEST_ID_HEADER] = body["request_id"]
    return web.Response(
        status=body["status"], text=json.dumps(body), content_type=PROBLEM_JSON, headers=out
    )


class Problem(Exception):
    """An error that knows its problem shape; subclasses set ``status``, ``slug``, ``title``
    (as class attributes, or per instance where one class covers several answers)."""

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"
    headers: Mapping[str, str] = MappingProxyType({})  # sent with the answer (Retry-After)

    def __init__(self, detail: str, **extras: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extras = extras

    def body(self, instance: str, request_id: str) -> dict[str, Any]:
        return problem_body(
            self.status,
            self.slug,
            self.title,
            self.detail,
            instance=instance,
            request_id=request_id,
            extras=self.extras,
        )


class ProblemDetails(Problem):
    """A problem whose status, type and title are given per instance: for answers that are not
    one class each (an HTTP error of the web framework, the sidecar's refusals)."""

    def __init__(self, status: int, slug: str, title: str, detail: str, **extras: Any) -> None:
        super().__init__(detail, **extras)
        self.status, self.slug, self.title = status, slug, title
