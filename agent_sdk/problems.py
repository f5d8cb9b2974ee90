"""Error answers of the agent host as RFC 9457 ``application/problem+json`` documents.

Kept here rather than shared with the registry or sidecar: the agent host runs beside the agent
and depends on aiohttp alone."""

from __future__ import annotations

import json

from aiohttp import web

PROBLEM_BASE = "https://greenlang.dev/problems/"
PROBLEM_TYPE = "application/problem+json"


def problem_response(status: int, slug: str, title: str, detail: str) -> web.Response:
    body = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    return web.Response(status=status, text=json.dumps(body), content_type=PROBLEM_TYPE)
