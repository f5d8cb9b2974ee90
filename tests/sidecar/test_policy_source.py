"""Bundle sources: a bundle URL polled with ETag, signatures verified when a key is given, the
last good bundle kept through outages and bad revisions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from bundles.assemble import assemble
from bundles.compiler import compile_policies
from bundles.layout import STOCK_POLICY_DIR
from bundles.signing import SigningConfig
from sidecar.deprecation import Notice
from sidecar.policy_source import FileBundleSource, OpaSource, PolledBundleSource
from tests.support.servers import OpaServerProcess, free_port

SECRET = "bundle-signing-secret-" + "x" * 32


def built(catalog: dict[str, object], signing: SigningConfig | None = None) -> tuple[bytes, str]:
    b = assemble(compile_policies([STOCK_POLICY_DIR]), catalog=catalog, signing=signing)
    return b.content, b.revision


@dataclass
class BundleServer:
    url: str
    body: bytes = b""
    etag: str = ""
    status: int = 200
    requests: list[str | None] = field(default_factory=list)  # If-None-Match seen


@pytest.fixture
async def server() -> AsyncIterator[BundleServer]:
    port = free_port()
    state = BundleServer(url=f"http://127.0.0.1:{port}/bundle.tar.gz")

    async def serve(request: web.Request) -> web.Response:
        state.requests.append(request.headers.get("If-None-Match"))
        if state.status != 200:
            return web.Response(status=state.status)
        if request.headers.get("If-None-Match") == state.etag:
            return web.Response(status=304, headers={"ETag": state.etag})
        return web.Response(body=state.body, headers={"ETag": state.etag})

    app = web.Application()
    app.router.add_get("/bundle.tar.gz", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield state
    await runner.cleanup()


async def test_polling_uses_etag_and_keeps_the_last_good_bundle(server: BundleServer) -> None:
    server.body, rev1 = built({"a": {"status": "ACTIVE"}})
    server.etag = f'"{rev1}"'
    source = PolledBundleSource(server.url, interval_s=3600)
    await source.start()
    try:
        assert source.revision == rev1 and await source.not_ready_reason() is None
        first = source.engine
        assert await source.poll_once() is False  # 304
        assert server.requests[-1] == f'"{rev1}"' and source.engine is first

        server.body, rev2 = built({"a": {"status": "RETIRED"}})
        server.etag = f'"{rev2}"'
        assert await source.poll_once() is True
        assert source.revision == rev2 and source.engine is not first
        assert source.policy_types["rate-limit"] == "rate_limiting"

        server.status = 503  # registry down: keep deciding with what we have
        assert await source.poll_once() is False
        assert source.revision == rev2 and await source.not_ready_reason() is None

        server.status, server.body, server.etag = 200, b"garbage", '"bad"'
        assert await source.poll_once() is False  # a bad revision is not installed
        assert source.revision == rev2
    finally:
        await source.close()


async def test_not_ready_until_a_bundle_arrives(server: BundleServer) -> None:
    server.status = 503
    source = PolledBundleSource(server.url, interval_s=3600)
    await source.start()
    try:
        assert source.engine is None
        assert "503" in (await source.not_ready_reason() or "")
        server.status = 200
        server.body, rev = built({})
        server.etag = f'"{rev}"'
        assert await source.poll_once() is True and source.engine is not None
    finally:
        await source.close()


async def test_signatures_are_verified_when_a_key_is_given(server: BundleServer) -> None:
    signed, rev = built({}, SigningConfig(SECRET, algorithm="HS256"))
    unsigned, rev_unsigned = built({"b": {"status": "ACTIVE"}})
    server.body, server.etag = unsigned, f'"{rev_unsigned}"'
    source = PolledBundleSource(
        server.url, interval_s=3600, verification_key=SECRET.encode(), algorithm="HS256"
    )
    await source.start()
    try:
        assert source.engine is None  # unsigned: refused
        assert "signature" in (await source.not_ready_reason() or "").lower()
        server.body, server.etag = signed, f'"{rev}"'
        assert await source.poll_once() is True and source.revision == rev
    finally:
        await source.close()


async def test_file_source_refuses_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "b.tar.gz"
    path.write_bytes(b"nope")
    source = FileBundleSource(path)
    await source.start()
    assert source.engine is None and "b.tar.gz" in (await source.not_ready_reason() or "")


class OpaWithBundle(OpaServerProcess):
    def __init__(self, workdir: Path, bundle: Path) -> None:
        super().__init__(workdir)
        self.bundle = bundle

    def opa_args(self) -> list[str]:
        return ["--bundle", str(self.bundle)]


async def test_opa_source_reads_the_serving_version_and_policy_types(tmp_path: Path) -> None:
    """With OPA as the engine the catalog is in OPA's data: the sidecar reads it there (the
    audit events' version, the metrics' labels, deprecation notices), and keeps it while OPA
    is away."""
    agent = "gl-cbam-opa"
    old = {"status": "DEPRECATED", "deprecated_at": 1_764_547_200 * 10**9, "replacement": agent}
    entry = {
        "owner_team": "cbam",
        "current_version": "2.1.0",
        "versions": {"2.1.0": {}, "2.0.0": old},
    }
    content, _ = built({agent: entry, "other": {"version": "9.9.9"}})
    bundle = tmp_path / "bundle.tar.gz"
    bundle.write_bytes(content)
    with OpaWithBundle(tmp_path / "opa", bundle) as opa:
        source = OpaSource(opa.url, agent_id=agent, refresh_s=0.1)
        await source.start()
        try:
            assert await source.not_ready_reason() is None
            assert source.agent_version(agent) == "2.1.0"
            assert source.agent_version("other") is None  # only its own agent is read
            assert source.notice(agent, "2.0.0") == Notice(1_764_547_200 * 10**9, None, agent)
            assert source.notice(agent, "2.1.0") is None
            assert source.policy_types["rate-limit"] == "rate_limiting"
            assert source.policy_types["rbac-access-control"] == "access_control"
            opa.close()
            await asyncio.sleep(0.3)  # refreshes fail meanwhile
            assert source.agent_version(agent) == "2.1.0"
            assert "OPA" in (await source.not_ready_reason() or "")
        finally:
            await source.close()
