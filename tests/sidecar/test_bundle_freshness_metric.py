"""`sidecar_bundle_last_success_timestamp_seconds` on the admin `/metrics`: the last good poll
(200 or 304), held through a registry outage; 0 for a source that never polls. The
GreenLangSidecarBundleStale alert (deploy/prometheus/rules/alerts.yml) reads it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from sidecar.admin import create_admin_app
from sidecar.metrics import SidecarMetrics
from sidecar.policy_source import FileBundleSource, PolicySource, PolledBundleSource
from tests.sidecar.test_policy_source import BundleServer, built, server
from tests.support.servers import free_port

__all__ = ["server"]  # the bundle server fixture, shared with test_policy_source
GAUGE = "sidecar_bundle_last_success_timestamp_seconds"


@pytest.fixture
async def admin() -> AsyncIterator[Callable[[PolicySource], Awaitable[str]]]:
    """Starts the admin listener over a source; yields a function giving its /metrics URL."""
    runners: list[web.AppRunner] = []

    async def serve(source: PolicySource) -> str:
        runner = web.AppRunner(create_admin_app(source, SidecarMetrics()))
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        return f"http://127.0.0.1:{port}/metrics"

    yield serve
    for runner in runners:
        await runner.cleanup()


Admin = Callable[[PolicySource], Awaitable[str]]


async def gauge(url: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        text = await response.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == GAUGE:
                return float(sample.value)
    raise AssertionError(f"{GAUGE} not exported")


async def test_last_good_poll_is_exported_and_held_through_an_outage(
    server: BundleServer, admin: Admin
) -> None:
    server.body, rev = built({"a": {"status": "ACTIVE"}})
    server.etag = f'"{rev}"'
    source = PolledBundleSource(server.url, interval_s=3600)
    url = await admin(source)
    before = time.time()
    await source.start()
    try:
        first = await gauge(url)
        assert before - 1 <= first <= time.time() + 1
        server.status = 503  # registry down: the poll fails, the timestamp stays
        await source.poll_once()
        assert await gauge(url) == pytest.approx(first, abs=0.01)
        server.status = 200
        assert await source.poll_once() is False  # 304 is a good poll too
        assert await gauge(url) > first
    finally:
        await source.close()


async def test_a_source_that_does_not_poll_exports_zero(tmp_path: Path, admin: Admin) -> None:
    content, _ = built({"a": {"status": "ACTIVE"}})
    (tmp_path / "b.tar.gz").write_bytes(content)
    source = FileBundleSource(tmp_path / "b.tar.gz")
    await source.start()
    assert await gauge(await admin(source)) == 0
