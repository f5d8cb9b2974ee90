"""/api/v1/bundles/{name}: OPA bundles, polled by stock OPAs with ETag/If-None-Match.

`greenlang` is built by the registry from its policies and agent catalog; other names hold
bundles published with PUT (e.g. by CI)."""

from __future__ import annotations

from aiohttp import web

from registry.api.context import SERVICE, ctx_of, json_response
from registry.api.uploads import read_limited
from registry.auth.models import Role
from registry.control_plane.bundle import (
    BUNDLE_NAME,
    MAX_UPLOAD_BYTES,
    BundleServer,
    store_upload,
)
from registry.control_plane.signing_key import BundleKey
from registry.errors import Forbidden, NotFound, UnsupportedMediaType

routes = web.RouteTableDef()
BUNDLES = web.AppKey("bundles", BundleServer)
BUNDLE_KEY = web.AppKey("bundle_key", BundleKey)
NAMED = "/api/v1/bundles/{name:[a-z0-9][a-z0-9._-]{0,63}}"
VERIFICATION_KEY = "/bundle-verification-key"
PEM = "application/x-pem-file"


@routes.get(NAMED)
async def get_bundle(request: web.Request) -> web.Response:
    """Every bundle is served signed with the registry's key (a published one re-signed)."""
    name = request.match_info["name"]
    server = request.app[BUNDLES]
    if name == BUNDLE_NAME:
        built = await server.current()
        revision, content = built.revision, built.content
    else:
        found = await request.app[SERVICE].store.bundles.load_upload(name)
        if found is None:
            raise NotFound(f"no bundle named {name!r}")
        revision, content = found
    etag = f'"{revision}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers=headers)
    if name != BUNDLE_NAME:
        content = await server.signed_upload(content)
    return web.Response(body=content, content_type="application/gzip", headers=headers)


@routes.put(NAMED)
async def put_bundle(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    if ctx.principal.role not in (Role.APPROVER, Role.ADMIN):
        raise Forbidden("publishing bundles needs role approver or admin")
    if request.content_type not in ("application/gzip", "application/octet-stream"):
        raise UnsupportedMediaType("send the bundle as application/gzip")
    content = await read_limited(request, MAX_UPLOAD_BYTES, "bundle")
    name = request.match_info["name"]
    revision = await store_upload(request.app[SERVICE].store, ctx, name, content)
    return json_response(
        {"name": name, "revision": revision}, status=201, headers={"ETag": f'"{revision}"'}
    )


@routes.get("/api/v1/catalog")
async def get_catalog(request: web.Request) -> web.Response:
    """The agent catalog exactly as bundles carry it (for `bundle build` outside the registry)."""
    return json_response(await request.app[BUNDLES].catalog())


async def get_verification_key(request: web.Request) -> web.Response:
    """The public key every served bundle verifies with (public: it is no secret, and OPAs and
    deployers fetch it before they hold a token)."""
    return web.Response(body=request.app[BUNDLE_KEY].public_pem, content_type=PEM)
