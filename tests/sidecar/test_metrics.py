"""Sidecar metrics: outcome labels, and the exposition text a Prometheus scrape would parse."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from sidecar import metrics as m
from sidecar.metrics import SidecarMetrics


def scrape(metrics: SidecarMetrics) -> list[Sample]:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    return [s for fam in text_string_to_metric_families(body.decode()) for s in fam.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float | None:
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(found) <= 1
    return found[0] if found else None


@pytest.mark.parametrize(
    ("status", "by_sidecar", "expected"),
    [
        (200, False, m.SUCCESS),
        (204, False, m.SUCCESS),
        (302, False, m.SUCCESS),
        (400, False, m.CLIENT_ERROR),
        (404, False, m.CLIENT_ERROR),
        # the agent's own 401/403/429/503 are its errors, not policy outcomes
        (401, False, m.CLIENT_ERROR),
        (403, False, m.CLIENT_ERROR),
        (429, False, m.CLIENT_ERROR),
        (503, False, m.SERVER_ERROR),
        (500, False, m.SERVER_ERROR),
        (401, True, m.UNAUTHENTICATED),
        (403, True, m.DENIED),
        (429, True, m.DENIED),
        (503, True, m.UNAVAILABLE),
        (502, True, m.SERVER_ERROR),
        (504, True, m.SERVER_ERROR),
        (413, True, m.CLIENT_ERROR),
        (500, True, m.SERVER_ERROR),
    ],
)
def test_outcome(status: int, by_sidecar: bool, expected: str) -> None:
    assert m.outcome(status, by_sidecar) == expected


def test_bound_agent_calls_in_exposition() -> None:
    metrics = SidecarMetrics()
    agent = metrics.for_agent("cbam-calculator", "1.2.0")
    agent.record_outcome(m.SUCCESS, 0.3)
    assert agent.record_call(201, False, 3.0) == m.SUCCESS
    assert agent.record_call(429, True, 0.002) == m.DENIED
    agent.record_error(m.ERROR_UPSTREAM_TIMEOUT)
    agent.record_error(m.ERROR_UPSTREAM_TIMEOUT)
    agent.record_tokens("gpt-4o", 120)
    agent.record_tokens(None, 30)  # model unknown
    agent.record_tokens("gpt-4o", 0)  # nothing to count
    agent.record_decision("allow")
    agent.record_decision("deny")
    agent.observe_overhead(m.PHASE_PRE, 0.0003)
    agent.observe_overhead(m.PHASE_TOTAL, 0.0007)

    s = scrape(metrics)
    a = {"agent_id": "cbam-calculator", "version": "1.2.0"}
    assert value(s, "agent_invocations_total", **a, status="success") == 2
    assert value(s, "agent_invocations_total", **a, status="denied") == 1
    # every outcome is pre-bound, so rate() sees a zero series before the first event
    assert value(s, "agent_invocations_total", **a, status="unavailable") == 0
    assert value(s, "agent_errors_total", **a, type="upstream_timeout") == 2
    assert value(s, "agent_tokens_used_total", **a, model="gpt-4o") == 120
    assert value(s, "agent_tokens_used_total", **a, model="unknown") == 30
    assert value(s, "sidecar_decisions_total", decision="allow") == 1
    assert value(s, "sidecar_decisions_total", decision="deny") == 1
    assert value(s, "sidecar_decisions_total", decision="fail_open") == 0

    buckets = {
        smp.labels["le"]: smp.value
        for smp in s
        if smp.name == "agent_invocation_duration_seconds_bucket"
        and smp.labels["agent_id"] == a["agent_id"]
    }
    assert buckets == {
        "0.1": 1.0,
        "0.5": 2.0,
        "1.0": 2.0,
        "2.0": 2.0,
        "5.0": 3.0,
        "10.0": 3.0,
        "30.0": 3.0,
        "+Inf": 3.0,
    }
    assert value(s, "agent_invocation_duration_seconds_count", **a) == 3
    assert value(s, "agent_invocation_duration_seconds_sum", **a) == pytest.approx(3.302)

    pre = {
        float(smp.labels["le"]): smp.value
        for smp in s
        if smp.name == "sidecar_overhead_seconds_bucket" and smp.labels["phase"] == "pre"
    }
    assert min(pre) == 0.00005 and max(k for k in pre if k != float("inf")) == 0.05
    assert pre[0.00025] == 0 and pre[0.0005] == 1
    assert value(s, "sidecar_overhead_seconds_count", phase="total") == 1
    assert value(s, "sidecar_overhead_seconds_count", phase="post") == 0


def test_bound_agent_rejects_labels_outside_the_fixed_sets() -> None:
    agent = SidecarMetrics().for_agent("a")
    with pytest.raises(KeyError):
        agent.record_outcome("ok", 0.1)
    with pytest.raises(KeyError):
        agent.observe_overhead("middle", 0.1)
    with pytest.raises(KeyError):
        agent.record_decision("maybe")


def test_unbound_methods_and_version_unknown() -> None:
    metrics = SidecarMetrics()
    metrics.record_call("a", None, m.SERVER_ERROR, 0.05)
    metrics.record_error("a", None, m.ERROR_UPSTREAM_UNREACHABLE)
    metrics.record_tokens("a", "2.0.0", None, 7)
    metrics.record_decision("fail_open")
    metrics.observe_overhead("post", 0.001)
    with pytest.raises(ValueError):
        metrics.record_call("a", None, "weird", 0.1)
    with pytest.raises(ValueError):
        metrics.observe_overhead("x", 0.1)
    with pytest.raises(ValueError):
        metrics.record_decision("x")

    s = scrape(metrics)
    assert (
        value(s, "agent_invocations_total", agent_id="a", version="unknown", status="server_error")
        == 1
    )
    assert (
        value(s, "agent_errors_total", agent_id="a", version="unknown", type="upstream_unreachable")
        == 1
    )
    assert value(s, "agent_tokens_used_total", agent_id="a", version="2.0.0", model="unknown") == 7
    assert value(s, "sidecar_decisions_total", decision="fail_open") == 1
    assert value(s, "sidecar_overhead_seconds_count", phase="post") == 1


def test_concurrent_executions_gauge() -> None:
    metrics = SidecarMetrics()
    agent = metrics.for_agent("a", "1")
    with agent.concurrent():
        agent.concurrent_inc()
        assert value(scrape(metrics), "agent_concurrent_executions", agent_id="a") == 2
        agent.concurrent_dec()
    assert value(scrape(metrics), "agent_concurrent_executions", agent_id="a") == 0
    with pytest.raises(RuntimeError), metrics.concurrent("b"):
        assert value(scrape(metrics), "agent_concurrent_executions", agent_id="b") == 1
        raise RuntimeError("upstream blew up")
    assert value(scrape(metrics), "agent_concurrent_executions", agent_id="b") == 0


def test_violations_count_by_policy_and_type() -> None:
    metrics = SidecarMetrics()
    findings = [
        {"policy_id": "rbac", "message": "role missing"},
        {"policy_id": "rbac", "message": "team mismatch"},
        {"policy_id": "token-limit", "message": "too many tokens"},
    ]
    n = metrics.record_violations(findings, {"rbac": "access_control"})
    assert n == 3
    metrics.for_agent("a").record_violations(
        [{"policy_id": "rbac", "message": "again"}], {"rbac": "access_control"}
    )
    metrics.record_violations([], None)
    s = scrape(metrics)
    assert value(s, "governance_violations_total", policy_id="rbac", type="access_control") == 3
    assert value(s, "governance_violations_total", policy_id="token-limit", type="unknown") == 1


def test_bundle_info_keeps_only_the_current_revision() -> None:
    metrics = SidecarMetrics()
    metrics.set_bundle("rev-1", activated_at=1_700_000_000.0)
    metrics.set_bundle("rev-2", activated_at=1_700_000_100.0)
    s = scrape(metrics)
    revisions = [smp.labels["revision"] for smp in s if smp.name == "sidecar_bundle_info"]
    assert revisions == ["rev-2"]
    assert value(s, "sidecar_bundle_info", revision="rev-2") == 1
    assert value(s, "sidecar_bundle_loaded_timestamp_seconds") == 1_700_000_100.0


def test_audit_spool_gauge_pushed_or_pulled() -> None:
    metrics = SidecarMetrics()
    metrics.set_audit_spool_events(12)
    assert value(scrape(metrics), "sidecar_audit_spool_events") == 12
    pending = [3]
    metrics.track_audit_spool(lambda: pending[0])
    assert value(scrape(metrics), "sidecar_audit_spool_events") == 3
    pending[0] = 5
    assert value(scrape(metrics), "sidecar_audit_spool_events") == 5


def test_two_instances_do_not_share_series() -> None:
    first, second = SidecarMetrics(), SidecarMetrics()  # no "Duplicated timeseries" error
    first.for_agent("a", "1").record_outcome(m.SUCCESS, 0.1)
    assert (
        value(scrape(first), "agent_invocations_total", agent_id="a", version="1", status="success")
        == 1
    )
    assert (
        value(
            scrape(second), "agent_invocations_total", agent_id="a", version="1", status="success"
        )
        is None
    )


def test_openmetrics_rendering_carries_trace_exemplar() -> None:
    metrics = SidecarMetrics()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    metrics.for_agent("a", "1").record_call(200, False, 0.7, trace_id=trace_id)
    body, content_type = metrics.render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    text = body.decode()
    assert text.rstrip().endswith("# EOF")
    bucket = next(
        line
        for line in text.splitlines()
        if line.startswith('agent_invocation_duration_seconds_bucket{agent_id="a",le="1.0"')
    )
    assert f'# {{trace_id="{trace_id}"}} 0.7' in bucket
    # the plain text format has no exemplars
    plain, _ = metrics.render()
    assert trace_id not in plain.decode()


def test_rate_store_gauge() -> None:
    metrics = SidecarMetrics()
    assert value(scrape(metrics), "sidecar_rate_store_up") == 1  # none configured: nothing away
    metrics.set_rate_store_up(False)
    assert value(scrape(metrics), "sidecar_rate_store_up") == 0
    metrics.set_rate_store_up(True)
    assert value(scrape(metrics), "sidecar_rate_store_up") == 1
