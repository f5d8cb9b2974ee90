"""The registry's scrape-time gauges: `agent_info` (team and regulatory scope for dashboard
joins) and the bundle revision each OPA instance reported."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import Api, make_spec
from tests.api.test_opa_control import REPORT


async def scrape(api: Api) -> dict[str, set[tuple[tuple[str, str], ...]]]:
    """Metric name -> the label sets of its samples with value 1 (or any value for timestamps)."""
    text = await (await api.client.get("/metrics")).text()
    out: dict[str, set[tuple[tuple[str, str], ...]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, set()).add(tuple(sorted(s.labels.items())))
    return out


async def test_agent_info_one_series_per_scope_and_none_for_no_scope(api: Api) -> None:
    assert (await api.register(make_spec())).status == 201
    two = make_spec("gl-csrd-reporter", metadata={"regulatory_scope": ["CSRD", "EU-TAXONOMY"]})
    assert (await api.register(two)).status == 201
    bare = make_spec("gl-helper", metadata={"regulatory_scope": []})
    assert (await api.register(bare)).status == 201
    info = (await scrape(api))["agent_info"]
    assert info == {
        (("agent_id", "gl-cbam-calculator"), ("regulatory_scope", "CBAM"), ("team", "cbam-team")),
        (("agent_id", "gl-csrd-reporter"), ("regulatory_scope", "CSRD"), ("team", "cbam-team")),
        (
            ("agent_id", "gl-csrd-reporter"),
            ("regulatory_scope", "EU-TAXONOMY"),
            ("team", "cbam-team"),
        ),
        (("agent_id", "gl-helper"), ("regulatory_scope", "none"), ("team", "cbam-team")),
    }


async def test_agent_info_drops_retired_agents(api: Api) -> None:
    assert (await api.register(make_spec())).status == 201
    assert "agent_info" in await scrape(api)
    r = await api.call("DELETE", "/api/v1/agents/gl-cbam-calculator")
    assert r.status in (200, 204), await r.text()
    assert "agent_info" not in await scrape(api)


async def test_opa_bundle_revision_follows_the_latest_report(api: Api) -> None:
    r = await api.call("POST", "/api/v1/opa/status", "service", json=REPORT)
    assert r.status == 200, await r.text()
    newer = {**REPORT, "bundles": {"greenlang": {"name": "greenlang", "active_revision": "def456"}}}
    r = await api.call("POST", "/api/v1/opa/status", "service", json=newer)
    assert r.status == 200, await r.text()
    metrics = await scrape(api)
    assert metrics["greenlang_opa_bundle_info"] == {
        (("bundle", "greenlang"), ("instance_id", "opa-1"), ("revision", "def456"))
    }
    assert metrics["greenlang_opa_last_report_timestamp_seconds"] == {(("instance_id", "opa-1"),)}
