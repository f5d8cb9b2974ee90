"""The whole sidecar in process, its bundle polled from a server whose catalog changes: the
deprecation headers follow the bundle revision, on forwarded answers and on refusals."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bundles.assemble import assemble
from bundles.compiler import compile_policies
from bundles.layout import STOCK_POLICY_DIR
from sidecar.app import Listen, Sidecar
from sidecar.auth import SecretAuthenticator
from sidecar.call import Target
from sidecar.policy_source import PolledBundleSource
from tests.sidecar.test_enforcer import AGENT, FAR, SECRET, ListSink, serving, token
from tests.support.servers import free_port

S = 1_000_000_000
REGISTRY = "http://registry.test:8700"
DEPRECATION = ("Deprecation", "Sunset", "Link")


def version(status: str = "ACTIVE", **notice: Any) -> dict[str, Any]:
    return {"status": status, "certificate_id": "c", "certificate_expires_at": FAR} | notice


def deprecated(sunset_s: int | None, replacement: str | None = "gl-cbam-next") -> dict[str, Any]:
    return version(
        "DEPRECATED",
        deprecated_at=1_764_547_200 * S,  # 2025-12-01
        sunset_at=None if sunset_s is None else sunset_s * S,
        replacement=replacement,
    )


def catalog(**versions: dict[str, Any]) -> dict[str, Any]:
    """AGENT serving 2.0.0, with these versions (keyword v2 is 2.0.0, v1 is 1.0.0)."""
    named = {k[1:] + ".0.0": v for k, v in versions.items()}
    return {AGENT: {"owner_team": "cbam", "current_version": "2.0.0", "versions": named}}


@dataclass
class BundleHost:
    """Serves one bundle at a time, with its revision as ETag."""

    url: str = ""
    body: bytes = b""
    etag: str = ""

    def publish(self, cat: dict[str, Any]) -> None:
        built = assemble(compile_policies([STOCK_POLICY_DIR]), catalog=cat)
        self.body, self.etag = built.content, f'"{built.revision}"'

    async def serve(self, request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == self.etag:
            return web.Response(status=304, headers={"ETag": self.etag})
        return web.Response(body=self.body, headers={"ETag": self.etag})


@pytest.fixture
async def host() -> AsyncIterator[BundleHost]:
    state = BundleHost()
    app = web.Application()
    app.router.add_get("/bundle", state.serve)
    async with serving(app) as url:
        state.url = url + "/bundle"
        yield state


async def agent(request: web.Request) -> web.Response:
    """An agent that announces a deprecation of its own, which the registry's replaces."""
    return web.json_response(
        {"ok": True}, headers={"Deprecation": "@1", "Link": '</docs>; rel="help"'}
    )


@pytest.fixture
async def agent_url() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", agent)
    async with serving(app) as url:
        yield url


@asynccontextmanager
async def running(
    host: BundleHost, agent_url: str, pinned: str | None = None, registry: str | None = REGISTRY
) -> AsyncIterator[Sidecar]:
    """A sidecar polling ``host`` (by hand: `poll`), serving ``pinned`` or the catalog's."""
    sidecar = Sidecar(
        target=Target(AGENT, pinned, "production", "test-sidecar"),
        upstream=agent_url,
        listen=Listen("127.0.0.1", free_port()),
        admin_listen=Listen("127.0.0.1", free_port()),
        source=PolledBundleSource(host.url, interval_s=3600),
        authenticator=SecretAuthenticator(SECRET),
        sink=ListSink(),
        decision_cache_ttl_s=0,
        registry_url=registry,
    )
    await sidecar.start()
    try:
        yield sidecar
    finally:
        await sidecar.stop()


async def call(sidecar: Sidecar, auth: str | None = None) -> aiohttp.ClientResponse:
    """POST /v1/run through the sidecar (``auth=""``: without a token); the body is read."""
    headers = {"Authorization": f"Bearer {auth or token()}"} if auth != "" else {}
    url = f"http://127.0.0.1:{sidecar.listen.port}/v1/run"
    async with aiohttp.ClientSession() as http, http.post(url, json={}, headers=headers) as resp:
        await resp.read()
        return resp


def notice_headers(resp: aiohttp.ClientResponse) -> dict[str, list[str]]:
    return {n: resp.headers.getall(n) for n in DEPRECATION if n in resp.headers}


async def poll(sidecar: Sidecar) -> None:
    assert isinstance(sidecar.source, PolledBundleSource)
    assert await sidecar.source.poll_once() is True  # a new revision is installed


async def test_headers_follow_the_bundle_revision(host: BundleHost, agent_url: str) -> None:
    host.publish(catalog(v2=version()))
    async with running(host, agent_url) as sidecar:
        before = await call(sidecar)
        host.publish(catalog(v2=deprecated(sunset_s=4_102_444_800)))  # sunset 2100-01-01
        await poll(sidecar)
        during = await call(sidecar)
        host.publish(catalog(v2=version()))  # deprecation withdrawn
        await poll(sidecar)
        after = await call(sidecar)
    for resp in (before, after):
        assert resp.status == 200 and notice_headers(resp) == {
            "Deprecation": ["@1"],  # the agent's own
            "Link": ['</docs>; rel="help"'],
        }
    assert during.status == 200
    assert notice_headers(during) == {
        "Deprecation": ["@1764547200"],
        "Sunset": ["Fri, 01 Jan 2100 00:00:00 GMT"],
        "Link": [
            '</docs>; rel="help"',
            f'<{REGISTRY}/api/v1/agents/gl-cbam-next>; rel="successor-version"',
        ],
    }


async def test_only_the_deprecated_version_carries_them(host: BundleHost, agent_url: str) -> None:
    host.publish(catalog(v2=version(), v1=deprecated(sunset_s=None, replacement=None)))
    async with (
        running(host, agent_url) as serving_v2,
        running(host, agent_url, pinned="1.0.0", registry=None) as pinned_v1,
    ):
        v2, v1 = await call(serving_v2), await call(pinned_v1)
    assert v2.status == 200 and notice_headers(v2)["Deprecation"] == ["@1"]
    assert "Sunset" not in v2.headers
    assert v1.status == 200
    assert notice_headers(v1) == {"Deprecation": ["@1764547200"], "Link": ['</docs>; rel="help"']}


async def test_refusals_carry_them_and_a_past_sunset_is_denied(
    host: BundleHost, agent_url: str
) -> None:
    """The headers describe the resource, so the sidecar's own refusals carry them too; a call
    after the sunset is denied by policy while the bundle still says DEPRECATED."""
    host.publish(catalog(v2=deprecated(sunset_s=int(time.time()) - 60)))
    async with running(host, agent_url) as sidecar:
        unauthenticated, past = await call(sidecar, auth=""), await call(sidecar)
    assert unauthenticated.status == 401
    assert set(notice_headers(unauthenticated)) == {"Deprecation", "Sunset", "Link"}
    assert past.status == 403 and set(notice_headers(past)) == set(DEPRECATION)
    violations = (await past.json())["violations"]
    assert {
        "policy_id": "compliance-certified-active",
        "message": "Agent version is past its sunset date",
    } in violations
