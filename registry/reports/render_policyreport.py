"""The report as a Kubernetes Policy WG PolicyReport (wgpolicyk8s.io/v1alpha2), the shape
Kyverno-style tooling reads: one result per policy and agent (fail: the policy was violated in
the period; warn: it only warned; pass: neither), with the counts as string properties."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from typing import Any

from registry.reports.model import AgentReport, ComplianceReport, PolicyCount

API_VERSION = "wgpolicyk8s.io/v1alpha2"
SOURCE = "greenlang-governance"
RESOURCE_API = "registry.greenlang.io/v1"


def _name(r: ComplianceReport) -> str:
    f = r.filter
    what = f.agent or f.team or f.scope or "all"
    slug = re.sub(r"[^a-z0-9-]+", "-", what.lower()).strip("-")[:150] or "x"
    return f"greenlang-compliance-{slug}-{r.period.start}-{r.period.end}"


def _result(a: AgentReport, policy_id: str, p: PolicyCount | None, at: int) -> dict[str, Any]:
    violations, warnings = (p.violations, p.warnings) if p else (0, 0)
    verdict = "fail" if violations else "warn" if warnings else "pass"
    rate = violations / a.counts.calls if a.counts.calls else 0.0
    return {
        "source": SOURCE,
        "policy": policy_id,
        "result": verdict,
        "scored": True,
        "category": "compliance",
        "severity": "high" if violations else "info",
        "message": f"{violations} of {a.counts.calls} calls violated {policy_id}, "
        f"{warnings} warned",
        "timestamp": {"seconds": at, "nanos": 0},
        "resources": [{"apiVersion": RESOURCE_API, "kind": "Agent", "name": a.agent_id}],
        "properties": {
            "calls": str(a.counts.calls),
            "violations": str(violations),
            "warnings": str(warnings),
            "violation_rate": f"{rate:.6f}",
            "examples": ",".join(p.examples if p else []),
        },
    }


def render_policyreport(r: ComplianceReport) -> dict[str, Any]:
    end = datetime.combine(r.period.end + timedelta(days=1), time(), UTC)
    at = int(end.timestamp())
    policy_ids = [p.policy_id for p in r.policies]
    results = []
    for a in r.agents:
        mine = {p.policy_id: p for p in a.policies}
        results += [_result(a, pid, mine.get(pid), at) for pid in policy_ids]
    summary = {
        k: sum(x["result"] == k for x in results) for k in ("pass", "fail", "warn", "error", "skip")
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "PolicyReport",
        "metadata": {
            "name": _name(r),
            "labels": {"app.kubernetes.io/managed-by": "greenlang-registry"},
            "annotations": {
                "greenlang.io/period-start": str(r.period.start),
                "greenlang.io/period-end": str(r.period.end),
                "greenlang.io/compliance-score": f"{r.score:.1f}",
                "greenlang.io/audit-chain": "verified" if r.audit_chain.ok else "broken",
                "greenlang.io/generated-at": r.generated_at.isoformat(),
            },
        },
        "summary": summary,
        "results": results,
    }
