"""Expected result of every dashboard query over tests/deploy/synthetic.py at 60m.

Each value follows from the synthetic rates by hand (e.g. calls/s 1.2 + 0.5 = 1.7; cost over 1h:
360k gpt-4o tokens * $0.005/1k + 36k * $0.001/1k + 180k claude tokens * $0.006/1k = $2.916);
floats are written as promtool computes them (rate extrapolation leaves the last bits)."""

from __future__ import annotations

EXPECTED: dict[str, list[tuple[str, float]]] = {
    "agent-health / Sidecars up / A": [
        ("{}", 2.0),
    ],
    "agent-health / Calls / s / A": [
        ("{}", 1.7000000000000002),
    ],
    "agent-health / Success ratio / A": [
        ("{}", 0.8823529411764705),
    ],
    "agent-health / p99 latency / A": [
        ("{}", 4.490000000000002),
    ],
    "agent-health / Invocations by agent and outcome / A": [
        ('{agent_id="cbam-calculator", status="client_error"}', 0.04000000000000009),
        ('{agent_id="cbam-calculator", status="denied"}', 0.1),
        ('{agent_id="cbam-calculator", status="server_error"}', 0.029999999999999954),
        ('{agent_id="cbam-calculator", status="success"}', 1.0),
        ('{agent_id="cbam-calculator", status="unauthenticated"}', 0.010000000000000023),
        ('{agent_id="cbam-calculator", status="unavailable"}', 0.020000000000000046),
        ('{agent_id="csrd-reporter", status="success"}', 0.5),
    ],
    "agent-health / Error ratio by agent / A": [
        ('{agent_id="cbam-calculator"}', 0.041666666666666664),
    ],
    "agent-health / Errors by type / A": [
        ('{agent_id="cbam-calculator", type="decision_unavailable"}', 0.020000000000000046),
        ('{agent_id="cbam-calculator", type="upstream_timeout"}', 0.029999999999999954),
    ],
    "agent-health / Executions in flight / A": [
        ('{agent_id="cbam-calculator"}', 3.0),
        ('{agent_id="csrd-reporter"}', 1.0),
    ],
    "agent-health / Latency percentiles by agent / A": [
        ('{agent_id="cbam-calculator"}', 0.23333333333333328),
        ('{agent_id="csrd-reporter"}', 0.4),
    ],
    "agent-health / Latency percentiles by agent / B": [
        ('{agent_id="cbam-calculator"}', 3.199999999999996),
        ('{agent_id="csrd-reporter"}', 1.7499999999999996),
    ],
    "agent-health / Latency percentiles by agent / C": [
        ('{agent_id="cbam-calculator"}', 4.639999999999999),
        ('{agent_id="csrd-reporter"}', 1.95),
    ],
    "agent-health / Sidecar overhead p99 by phase / A": [
        ('{phase="post"}', 0.00244),
        ('{phase="pre"}', 0.00244),
        ('{phase="total"}', 0.00244),
    ],
    "agent-health / Agent-side latency p99 (SDK) / A": [
        ('{agent_id="cbam-calculator"}', 0.488),
    ],
    "agent-health / Cache hit ratio (SDK) / A": [
        ('{agent_id="cbam-calculator"}', 0.75),
    ],
    "agent-health / Cache hit ratio (SDK) / B": [
        ('{agent_id="cbam-calculator"}', 0.7),
    ],
    "agent-health / Canary weight / A": [
        ('{agent_id="cbam-calculator", environment="production"}', 10.0),
    ],
    "agent-health / Canary weight / B": [
        ('{agent_id="cbam-calculator"}', 10.0),
        ('{agent_id="csrd-reporter"}', 0.0),
    ],
    "agent-health / Routed calls and fallbacks / A": [
        ('{agent_id="cbam-calculator", to_version="1.1.0"}', 0.1),
    ],
    "agent-health / Routed calls and fallbacks / B": [
        ('{agent_id="cbam-calculator", to_version="1.1.0"}', 0.010000000000000023),
    ],
    "agent-health / Canary outcomes / A": [
        ('{agent_id="csrd-reporter", version="2.1.0"}', 2.9999999999999973),
    ],
    "agent-health / Canary outcomes / B": [
        ('{agent_id="cbam-calculator", version="1.1.0"}', 5.999999999999995),
    ],
    "agent-health / variable agent_id / var": [
        ('{agent_id="cbam-calculator"}', 6.0),
        ('{agent_id="csrd-reporter"}', 1.0),
    ],
    "business / Successful invocations (range) / A": [
        ("{}", 5400.0),
    ],
    "business / Agents in use / A": [
        ("{}", 2.0),
    ],
    "business / Agents registered / A": [
        ("{}", 3.0),
    ],
    "business / Invocations by team / A": [
        ('{team="cbam-team"}', 1.2000000000000002),
        ('{team="csrd-team"}', 0.5),
    ],
    "business / Invocations by regulation / A": [
        ('{regulatory_scope="CBAM"}', 1.2000000000000002),
        ('{regulatory_scope="CSRD"}', 0.5),
        ('{regulatory_scope="EU-TAXONOMY"}', 0.5),
    ],
    "business / Invocations by agent / A": [
        ('{agent_id="cbam-calculator", team="cbam-team"}', 1.2000000000000002),
        ('{agent_id="csrd-reporter", team="csrd-team"}', 0.5),
    ],
    "business / Top agents (range) / A": [
        ('{agent_id="cbam-calculator", team="cbam-team"}', 3600.0),
        ('{agent_id="csrd-reporter", team="csrd-team"}', 1800.0),
    ],
    "business / Agents per regulation / A": [
        ('{regulatory_scope="CBAM"}', 1.0),
        ('{regulatory_scope="CSRD"}', 1.0),
        ('{regulatory_scope="EU-TAXONOMY"}', 1.0),
        ('{regulatory_scope="none"}', 1.0),
    ],
    "business / variable team / var": [
        ('{team="cbam-team"}', 2.0),
        ('{team="csrd-team"}', 2.0),
    ],
    "business / variable regulation / var": [
        ('{regulatory_scope="CBAM"}', 1.0),
        ('{regulatory_scope="CSRD"}', 1.0),
        ('{regulatory_scope="EU-TAXONOMY"}', 1.0),
        ('{regulatory_scope="none"}', 1.0),
    ],
    "cost / Cost (range) / A": [
        ("{}", 2.9160000000000004),
    ],
    "cost / Tokens (range) / A": [
        ("{}", 579600.0),
    ],
    "cost / Tokens of unpriced models (range) / A": [
        ("{}", 3600.0),
    ],
    "cost / Cost rate by agent / A": [
        ('{agent_id="cbam-calculator"}', 1.836),
        ('{agent_id="csrd-reporter"}', 1.08),
    ],
    "cost / Cost rate by model / A": [
        ('{model="claude-sonnet-4-5"}', 1.08),
        ('{model="gl-cbam-embedded-emissions-1"}', 0.036000000000000004),
        ('{model="gpt-4o"}', 1.8),
    ],
    "cost / Cost by team (range) / A": [
        ('{team="cbam-team"}', 1.836),
        ('{team="csrd-team"}', 1.08),
    ],
    "cost / Cost by agent and model (range) / A": [
        (
            '{agent_id="cbam-calculator", model="gl-cbam-embedded-emissions-1"}',
            0.036000000000000004,
        ),
        ('{agent_id="cbam-calculator", model="gpt-4o"}', 1.8),
        ('{agent_id="csrd-reporter", model="claude-sonnet-4-5"}', 1.08),
    ],
    "cost / Tokens / s by agent and model / A": [
        ('{agent_id="cbam-calculator", model="gl-cbam-embedded-emissions-1"}', 10.0),
        ('{agent_id="cbam-calculator", model="gpt-4o"}', 100.0),
        ('{agent_id="csrd-reporter", model="claude-sonnet-4-5"}', 50.0),
        ('{agent_id="csrd-reporter", model="mystery-llm"}', 1.0),
    ],
    "cost / Tokens per successful call / A": [
        ('{agent_id="cbam-calculator"}', 110.0),
        ('{agent_id="csrd-reporter"}', 102.0),
    ],
    "cost / Cache hits (SDK) / A": [
        ('{agent_id="cbam-calculator"}', 0.75),
    ],
    "cost / variable agent_id / var": [
        ('{agent_id="cbam-calculator"}', 6.0),
        ('{agent_id="csrd-reporter"}', 1.0),
    ],
    "governance / Violation rate / A": [
        ("{}", 0.008823529411764725),
    ],
    "governance / Denied share / A": [
        ("{}", 0.05952380952380952),
    ],
    "governance / Fail-closed answers / s / A": [
        ("{}", 0.020000000000000046),
    ],
    "governance / Fail-open decisions / s / A": [
        ("{}", 0.010000000000000023),
    ],
    "governance / Decisions by result / A": [
        ('{decision="allow"}', 1.5),
        ('{decision="deny"}', 0.1),
        ('{decision="error"}', 0.020000000000000046),
        ('{decision="fail_open"}', 0.010000000000000023),
        ('{decision="warn"}', 0.05),
    ],
    "governance / Violations by policy / A": [
        ('{policy_id="cbam-scope", type="regulatory"}', 0.005000000000000011),
        ('{policy_id="pii-masking", type="data_protection"}', 0.010000000000000023),
    ],
    "governance / Denials by agent / A": [
        ('{agent_id="cbam-calculator"}', 0.1),
    ],
    "governance / Fail-closed and unauthenticated by agent / A": [
        ('{agent_id="cbam-calculator", status="unauthenticated"}', 0.010000000000000023),
        ('{agent_id="cbam-calculator", status="unavailable"}', 0.020000000000000046),
    ],
    "governance / Fail-closed and unauthenticated by agent / B": [
        ('{agent_id="cbam-calculator"}', 0.020000000000000046),
    ],
    "governance / Certificates expiring < 30 days / A": [
        ("{}", 2.0),
    ],
    "governance / Certificates expired / A": [
        ("{}", 1.0),
    ],
    "governance / Certificate expiry by agent version / A": [
        ('{agent_id="cbam-calculator", version="1.0.0"}', 200.0),
        ('{agent_id="cbam-calculator", version="1.1.0"}', 20.0),
        ('{agent_id="csrd-reporter", version="2.1.0"}', -3.0),
    ],
    "governance / Bundle revision per sidecar / A": [
        ('{instance="sidecar-cbam:9102", revision="rev-2"}', 1.0),
        ('{instance="sidecar-csrd:9102", revision="rev-1"}', 1.0),
    ],
    "governance / Bundle age per sidecar / A": [
        ('{instance="sidecar-cbam:9102"}', 600.0),
        ('{instance="sidecar-csrd:9102"}', 3000.0),
    ],
    "governance / Audit spool backlog / A": [
        ('{instance="sidecar-cbam:9102"}', 0.0),
        ('{instance="sidecar-csrd:9102"}', 5.0),
    ],
    "governance / variable agent_id / var": [
        ('{agent_id="cbam-calculator"}', 6.0),
        ('{agent_id="csrd-reporter"}', 1.0),
    ],
    "platform / Registry up / A": [
        ("{}", 1.0),
    ],
    "platform / Requests / s / A": [
        ("{}", 3.11),
    ],
    "platform / 5xx ratio / A": [
        ("{}", 0.0032154340836012935),
    ],
    "platform / p99 latency / A": [
        ("{}", 0.5),
    ],
    "platform / Requests by route and status / A": [
        ('{method="GET", route="/api/v1/agents", status="200"}', 1.0),
        ('{method="GET", route="/api/v1/agents/search", status="200"}', 2.0),
        ('{method="GET", route="/api/v1/agents/{agent_id}", status="404"}', 0.1),
        ('{method="POST", route="/api/v1/agents", status="500"}', 0.010000000000000023),
    ],
    "platform / p99 latency by route / A": [
        ('{method="GET", route="/api/v1/agents"}', 0.0492),
        ('{method="GET", route="/api/v1/agents/search"}', 0.095),
        ('{method="GET", route="/api/v1/agents/{agent_id}"}', 0.0099),
        ('{method="POST", route="/api/v1/agents"}', 0.495),
    ],
    "platform / Search requests / s / A": [
        ('{route="/api/v1/agents", status="200"}', 1.0),
        ('{route="/api/v1/agents/search", status="200"}', 2.0),
    ],
    "platform / Search latency / A": [
        ('{route="/api/v1/agents"}', 0.01),
        ('{route="/api/v1/agents/search"}', 0.01),
    ],
    "platform / Search latency / B": [
        ('{route="/api/v1/agents"}', 0.0492),
        ('{route="/api/v1/agents/search"}', 0.095),
    ],
    "platform / Bundle revision per OPA / A": [
        ('{bundle="greenlang", instance_id="opa-1", revision="rev-2"}', 1.0),
        ('{bundle="greenlang", instance_id="opa-2", revision="rev-1"}', 1.0),
    ],
    "platform / Revisions in use / A": [
        ('{revision="rev-1"}', 1.0),
        ('{revision="rev-2"}', 1.0),
    ],
    "platform / Revisions in use / B": [
        ('{revision="rev-1"}', 1.0),
        ('{revision="rev-2"}', 1.0),
    ],
    "platform / OPA status report age / A": [
        ('{instance_id="opa-1"}', 10.0),
        ('{instance_id="opa-2"}', 600.0),
    ],
    "platform / Route poll failures / A": [
        ('{instance="sidecar-cbam:9102"}', 0.0),
        ('{instance="sidecar-csrd:9102"}', 0.010000000000000023),
    ],
    "platform / Targets / A": [
        ('{instance="agent-cbam:9000", job="greenlang-agents"}', 1.0),
        ('{instance="opa:8181", job="opa"}', 0.0),
        ('{instance="registry:8080", job="greenlang-registry"}', 1.0),
        ('{instance="sidecar-cbam:9102", job="greenlang-sidecars"}', 1.0),
        ('{instance="sidecar-csrd:9102", job="greenlang-sidecars"}', 1.0),
    ],
    "platform / variable route / var": [
        ('{route="/api/v1/agents"}', 2.0),
        ('{route="/api/v1/agents/search"}', 1.0),
        ('{route="/api/v1/agents/{agent_id}"}', 1.0),
    ],
}
