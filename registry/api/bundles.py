"""/api/v1/bundles/{name}: the current OPA bundle, polled by stock OPAs with ETag/If-None-Match."""

from __future__ import annotations

from aiohttp import web

from registry.errors import NotFound
from registry.policy_bundle import BUNDLE_NAME, BundleServer

routes = web.RouteTableDef()
BUNDLES = web.AppKey("bundles", BundleServer)


@routes.get("/api/v1/bundles/{name}")
async def get_bundle(request: web.Request) -> web.Response:
    if request.match_info["name"] != BUNDLE_NAME:
        raise NotFound(f"no bundle named {request.match_info['name']!r}; try {BUNDLE_NAME!r}")
    built = await request.app[BUNDLES].current()
    etag = f'"{built.revision}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers=headers)
    return web.Response(body=built.content, content_type="application/gzip", headers=headers)
