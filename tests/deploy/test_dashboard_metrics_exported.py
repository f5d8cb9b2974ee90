"""Every metric a dashboard (or the synthetic series its test uses) names is one our code exports:
read from the `/metrics` the registry app serves (with the canary runner's metrics registered on
it, as `greenlang-registry serve` does) and from the sidecar's exposition."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from prometheus_client import generate_latest

from agent_sdk.observability import AgentObservability
from registry.api.app import METRICS
from registry.artifacts.filesystem import FilesystemArtifactStore
from registry.canary.runner import CanaryMetrics
from sidecar.metrics import SidecarMetrics
from tests.api.conftest import start_api
from tests.deploy.dashboards import files, metric_names, queries
from tests.deploy.synthetic import SERIES

PROMETHEUS_OWN = {"up"}  # written by Prometheus for every target
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}


def exposed(text: str) -> set[str]:
    """Sample names a Prometheus text exposition declares (`# TYPE` lines; histograms expand)."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            names.add(name)
            names.update(name + s for s in SUFFIXES.get(kind.strip(), ()))
    return names


async def exported(pool: asyncpg.Pool, tmp_path: Path) -> set[str]:
    api = await start_api(pool, FilesystemArtifactStore(tmp_path / "artifacts"), tmp_path)
    try:
        CanaryMetrics(api.client.app[METRICS])
        text = await (await api.client.get("/metrics")).text()
    finally:
        await api.client.close()
    body, _ = SidecarMetrics().render()
    sdk = AgentObservability("gl-x", "1.0.0")
    sdk.cache(hit=True)  # the ratio has no sample before the first lookup
    return exposed(text) | exposed(body.decode()) | exposed(generate_latest(sdk.registry).decode())


def dashboard_metrics() -> set[str]:
    return {name for path in files() for q in queries(path) for name in metric_names(q.raw)}


def series_metrics() -> set[str]:
    return {series.split("{", 1)[0] for series in SERIES}


async def test_every_dashboard_metric_is_exported(pool: asyncpg.Pool, tmp_path: Path) -> None:
    have = await exported(pool, tmp_path)
    used = dashboard_metrics() | series_metrics()
    missing = used - have - PROMETHEUS_OWN
    assert not missing, f"dashboards use metrics no code exports: {sorted(missing)}"


def test_the_name_check_sees_every_panel_metric() -> None:
    names = dashboard_metrics()
    assert {"agent_invocations_total", "agent_info", "registry_http_requests_total"} <= names
    assert "agent_invocation_duration_seconds_bucket" in names
    assert not any(n in {"sum", "rate", "by", "on"} for n in names)
