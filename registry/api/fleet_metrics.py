"""Registry gauges read from the database at scrape time: `agent_info` (the labels dashboards
join sidecar series with: team and regulatory scope are not sidecar labels) and the bundle
revision each OPA instance last reported (`greenlang_opa_bundle_info`).

Both are rebuilt on every `/metrics` request, so a renamed team or a retired agent never leaves a
stale series behind. One series per (agent, regulatory scope): an agent in two scopes counts in
both; one with none has `regulatory_scope="none"`."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from registry.store.port import MetadataStore

NO_SCOPE = "none"


class FleetMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.agent_info = Gauge(
            "agent_info",
            "Registered (not retired) agents: owning team and regulatory scope (value 1)",
            ["agent_id", "team", "regulatory_scope"],
            registry=registry,
        )
        self.opa_bundle = Gauge(
            "greenlang_opa_bundle_info",
            "Bundle revision each OPA instance last reported to the registry (value 1)",
            ["instance_id", "bundle", "revision"],
            registry=registry,
        )
        self.opa_report = Gauge(
            "greenlang_opa_last_report_timestamp_seconds",
            "Unix time of each OPA instance's latest status report",
            ["instance_id"],
            registry=registry,
        )

    async def refresh(self, store: MetadataStore) -> None:
        """Read first, then swap the series in one step (no await between clear and set)."""
        agents = await store.agents.info_labels()
        instances = await store.opa_instances.list_all()
        self.agent_info.clear()
        for a in agents:
            for scope in a.regulatory_scope or (NO_SCOPE,):
                self.agent_info.labels(a.agent_id, a.team, scope).set(1)
        self.opa_bundle.clear()
        self.opa_report.clear()
        for i in instances:
            self.opa_report.labels(i["instance_id"]).set(i["last_seen"].timestamp())
            for name, state in _bundles(i["bundles"]):
                revision = state.get("active_revision") if isinstance(state, dict) else None
                self.opa_bundle.labels(i["instance_id"], name, str(revision or "")).set(1)


def _bundles(bundles: Any) -> list[tuple[str, Any]]:
    return list(bundles.items()) if isinstance(bundles, dict) else []
