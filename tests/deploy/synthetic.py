"""Synthetic series for promtool, with the exact metric names and labels our code exports
(sidecar/metrics.py, registry/api/middleware.py, registry/api/fleet_metrics.py,
registry/canary/runner.py, the agent SDK) plus the `job`/`instance` labels the scrape config adds.

One sample a minute for an hour; evaluation at 60m, so `rate(x[5m])` of `0+Nx60` is exactly
N/60 per second and `increase(x[1h])` exactly 60*N. The agent SDK's copies of the invocation
series (job greenlang-agents) are there on purpose: a panel about governed traffic that forgets
`job="greenlang-sidecars"` double counts and fails its expected value."""

# ruff: noqa: E501  (a table of series: one per line reads best)
from __future__ import annotations

EVAL_TIME = "60m"
SC = 'job="greenlang-sidecars"'
SC_CBAM = f'{SC}, instance="sidecar-cbam:9102"'
SC_CSRD = f'{SC}, instance="sidecar-csrd:9102"'
AGENTS = 'job="greenlang-agents", instance="agent-cbam:9000"'
REG = 'job="greenlang-registry", instance="registry:8080"'
CBAM = 'agent_id="cbam-calculator", version="1.0.0"'
CSRD = 'agent_id="csrd-reporter", version="2.1.0"'


def counter(per_minute: float) -> str:
    return f"0+{per_minute:g}x60"


def const(value: float) -> str:
    return f"{value:g}x60"


def histogram(name: str, labels: str, cumulative: dict[str, float], sum_per_min: float) -> dict:
    """`cumulative`: le -> per-minute count at or below it (the last one is +Inf)."""
    out = {f'{name}_bucket{{{labels}, le="{le}"}}': counter(n) for le, n in cumulative.items()}
    out[f"{name}_count{{{labels}}}"] = counter(list(cumulative.values())[-1])
    out[f"{name}_sum{{{labels}}}"] = counter(sum_per_min)
    return out


INV_BUCKETS_CBAM = {
    "0.1": 30,
    "0.5": 48,
    "1.0": 60,
    "2.0": 66,
    "5.0": 72,
    "10.0": 72,
    "30.0": 72,
    "+Inf": 72,
}
INV_BUCKETS_CSRD = {"0.1": 6, "0.5": 18, "1.0": 24, "2.0": 30, "5.0": 30, "+Inf": 30}
OVERHEAD = {"0.0005": 36, "0.001": 54, "0.0025": 72, "0.05": 72, "+Inf": 72}

SERIES: dict[str, str] = {
    # --- sidecar of cbam-calculator: 1.2 calls/s -------------------------------------------
    f'agent_invocations_total{{{SC_CBAM}, {CBAM}, status="success"}}': counter(60),
    f'agent_invocations_total{{{SC_CBAM}, {CBAM}, status="denied"}}': counter(6),
    f'agent_invocations_total{{{SC_CBAM}, {CBAM}, status="server_error"}}': counter(1.8),
    f'agent_invocations_total{{{SC_CBAM}, {CBAM}, status="unavailable"}}': counter(1.2),
    f'agent_invocations_total{{{SC_CBAM}, {CBAM}, status="unauthenticated"}}': counter(0.6),
    f'agent_invocations_total{{{SC_CBAM}, {CBAM}, status="client_error"}}': counter(2.4),
    **histogram("agent_invocation_duration_seconds", f"{SC_CBAM}, {CBAM}", INV_BUCKETS_CBAM, 36),
    f'agent_errors_total{{{SC_CBAM}, {CBAM}, type="upstream_timeout"}}': counter(1.8),
    f'agent_errors_total{{{SC_CBAM}, {CBAM}, type="decision_unavailable"}}': counter(1.2),
    f'agent_tokens_used_total{{{SC_CBAM}, {CBAM}, model="gpt-4o"}}': counter(6000),
    f'agent_tokens_used_total{{{SC_CBAM}, {CBAM}, model="gl-cbam-embedded-emissions-1"}}': (
        counter(600)
    ),
    f'agent_concurrent_executions{{{SC_CBAM}, agent_id="cbam-calculator"}}': const(3),
    f'governance_violations_total{{{SC_CBAM}, policy_id="pii-masking", type="data_protection"}}': (
        counter(0.6)
    ),
    **{
        k: v
        for p in ("pre", "post", "total")
        for k, v in histogram(
            "sidecar_overhead_seconds", f'{SC_CBAM}, phase="{p}"', OVERHEAD, 0.05
        ).items()
    },
    f'sidecar_decisions_total{{{SC_CBAM}, decision="allow"}}': counter(60),
    f'sidecar_decisions_total{{{SC_CBAM}, decision="warn"}}': counter(3),
    f'sidecar_decisions_total{{{SC_CBAM}, decision="deny"}}': counter(6),
    f'sidecar_decisions_total{{{SC_CBAM}, decision="error"}}': counter(1.2),
    f'sidecar_decisions_total{{{SC_CBAM}, decision="fail_open"}}': counter(0),
    f'sidecar_bundle_info{{{SC_CBAM}, revision="rev-2"}}': const(1),
    f"sidecar_bundle_loaded_timestamp_seconds{{{SC_CBAM}}}": const(3000),
    f"sidecar_audit_spool_events{{{SC_CBAM}}}": const(0),
    f'sidecar_routed_calls_total{{{SC_CBAM}, {CBAM}, to_version="1.1.0"}}': counter(6),
    f'sidecar_route_fallbacks_total{{{SC_CBAM}, agent_id="cbam-calculator", to_version="1.1.0"}}': (
        counter(0.6)
    ),
    f'sidecar_canary_weight{{{SC_CBAM}, agent_id="cbam-calculator"}}': const(10),
    f"sidecar_route_poll_failures_total{{{SC_CBAM}}}": counter(0),
    # --- sidecar of csrd-reporter: 0.5 calls/s, an older bundle, a spool backlog ----------
    f'agent_invocations_total{{{SC_CSRD}, {CSRD}, status="success"}}': counter(30),
    **histogram("agent_invocation_duration_seconds", f"{SC_CSRD}, {CSRD}", INV_BUCKETS_CSRD, 15),
    f'agent_tokens_used_total{{{SC_CSRD}, {CSRD}, model="claude-sonnet-4-5"}}': counter(3000),
    f'agent_tokens_used_total{{{SC_CSRD}, {CSRD}, model="mystery-llm"}}': counter(60),
    f'agent_concurrent_executions{{{SC_CSRD}, agent_id="csrd-reporter"}}': const(1),
    f'governance_violations_total{{{SC_CSRD}, policy_id="cbam-scope", type="regulatory"}}': (
        counter(0.3)
    ),
    f'sidecar_decisions_total{{{SC_CSRD}, decision="allow"}}': counter(30),
    f'sidecar_decisions_total{{{SC_CSRD}, decision="fail_open"}}': counter(0.6),
    f'sidecar_bundle_info{{{SC_CSRD}, revision="rev-1"}}': const(1),
    f"sidecar_bundle_loaded_timestamp_seconds{{{SC_CSRD}}}": const(600),
    f"sidecar_audit_spool_events{{{SC_CSRD}}}": const(5),
    f'sidecar_canary_weight{{{SC_CSRD}, agent_id="csrd-reporter"}}': const(0),
    f"sidecar_route_poll_failures_total{{{SC_CSRD}}}": counter(0.6),
    # --- the cbam agent's own SDK metrics (job greenlang-agents) ---------------------------
    f'agent_invocations_total{{{AGENTS}, {CBAM}, status="success"}}': counter(60),
    **histogram(
        "agent_invocation_duration_seconds",
        f"{AGENTS}, {CBAM}",
        {"0.1": 40, "0.5": 60, "1.0": 60, "+Inf": 60},
        6,
    ),
    f'agent_tokens_used_total{{{AGENTS}, {CBAM}, model="gpt-4o"}}': counter(6000),
    f'agent_cache_lookups_total{{{AGENTS}, {CBAM}, result="hit"}}': counter(45),
    f'agent_cache_lookups_total{{{AGENTS}, {CBAM}, result="miss"}}': counter(15),
    f"agent_cache_hit_ratio{{{AGENTS}, {CBAM}}}": const(0.7),
    # --- registry ------------------------------------------------------------------------
    **{
        f'registry_http_requests_total{{{REG}, route="{r}", method="{m}", status="{s}"}}': counter(
            n
        )
        for r, m, s, n in (
            ("/api/v1/agents/search", "GET", "200", 120),
            ("/api/v1/agents", "GET", "200", 60),
            ("/api/v1/agents/{agent_id}", "GET", "404", 6),
            ("/api/v1/agents", "POST", "500", 0.6),
        )
    },
    **histogram(
        "registry_http_request_duration_seconds",
        f'{REG}, route="/api/v1/agents/search", method="GET"',
        {"0.01": 60, "0.05": 108, "0.1": 120, "+Inf": 120},
        3,
    ),
    **histogram(
        "registry_http_request_duration_seconds",
        f'{REG}, route="/api/v1/agents", method="GET"',
        {"0.01": 30, "0.05": 60, "+Inf": 60},
        1.2,
    ),
    **histogram(
        "registry_http_request_duration_seconds",
        f'{REG}, route="/api/v1/agents/{{agent_id}}", method="GET"',
        {"0.01": 6, "+Inf": 6},
        0.03,
    ),
    **histogram(
        "registry_http_request_duration_seconds",
        f'{REG}, route="/api/v1/agents", method="POST"',
        {"0.25": 0.3, "0.5": 0.6, "+Inf": 0.6},
        0.18,
    ),
    f'greenlang_canary_weight{{{REG}, agent_id="cbam-calculator", environment="production"}}': (
        const(10)
    ),
    f'greenlang_canary_rollbacks_total{{{REG}, agent_id="cbam-calculator", environment="production", version="1.1.0"}}': (
        counter(0.1)
    ),
    f'greenlang_canary_promotions_total{{{REG}, agent_id="csrd-reporter", environment="production", version="2.1.0"}}': (
        counter(0.05)
    ),
    f"agent_certificate_expiry_days{{{REG}, {CBAM}}}": const(200),
    f'agent_certificate_expiry_days{{{REG}, agent_id="cbam-calculator", version="1.1.0"}}': const(
        20
    ),
    f"agent_certificate_expiry_days{{{REG}, {CSRD}}}": const(-3),
    f'agent_info{{{REG}, agent_id="cbam-calculator", team="cbam-team", regulatory_scope="CBAM"}}': (
        const(1)
    ),
    f'agent_info{{{REG}, agent_id="csrd-reporter", team="csrd-team", regulatory_scope="CSRD"}}': (
        const(1)
    ),
    f'agent_info{{{REG}, agent_id="csrd-reporter", team="csrd-team", regulatory_scope="EU-TAXONOMY"}}': (
        const(1)
    ),
    f'agent_info{{{REG}, agent_id="idle-agent", team="cbam-team", regulatory_scope="none"}}': (
        const(1)
    ),
    f'greenlang_opa_bundle_info{{{REG}, instance_id="opa-1", bundle="greenlang", revision="rev-2"}}': (
        const(1)
    ),
    f'greenlang_opa_bundle_info{{{REG}, instance_id="opa-2", bundle="greenlang", revision="rev-1"}}': (
        const(1)
    ),
    f'greenlang_opa_last_report_timestamp_seconds{{{REG}, instance_id="opa-1"}}': const(3590),
    f'greenlang_opa_last_report_timestamp_seconds{{{REG}, instance_id="opa-2"}}': const(3000),
    # --- scrape health (Prometheus' own `up`) ------------------------------------------------
    'up{job="greenlang-sidecars", instance="sidecar-cbam:9102"}': const(1),
    'up{job="greenlang-sidecars", instance="sidecar-csrd:9102"}': const(1),
    'up{job="greenlang-registry", instance="registry:8080"}': const(1),
    'up{job="greenlang-agents", instance="agent-cbam:9000"}': const(1),
    'up{job="opa", instance="opa:8181"}': const(0),
}
