"""The report computed from the database's rows: sums, rates, scores and group totals. Pure: the
rows come from registry/store/reports.py, the chain result from registry/reports/chain.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from registry.reports import score
from registry.reports.model import (
    TARGET_VIOLATION_RATE,
    AgentReport,
    CertificateState,
    ChainResult,
    ComplianceReport,
    Counts,
    DailyPoint,
    GroupTotals,
    LifecycleEvent,
    LifecycleKind,
    Period,
    PolicyCount,
    ReportFilter,
    VersionReport,
)
from registry.store.reports import AgentRow, ReportRows

SUMMED = ("calls", "allowed", "warned", "denied", "refused", "fail_open", "violating")
KINDS: dict[str, LifecycleKind] = {
    "deployment.create": "promotion",
    "canary.promote": "canary_verdict",
    "deployment.rollback": "rollback",
    "canary.rollback": "canary_verdict",
    "canary.abort": "rollback",
    "version.deprecate": "deprecation",
    "version.retire": "retirement",
    "canary.advance": "canary_verdict",
    "canary.hold": "canary_verdict",
}


def counts(rows: Iterable[Any]) -> Counts:
    """Sums of rows (dicts or Counts) with the rate and whether it meets the target."""
    sums = dict.fromkeys(SUMMED, 0)
    for row in rows:
        for key in SUMMED:
            sums[key] += int(row[key] if isinstance(row, dict) else getattr(row, key))
    rate = sums["violating"] / sums["calls"] if sums["calls"] else 0.0
    return Counts(**sums, violation_rate=rate, target_met=rate < TARGET_VIOLATION_RATE)


def _policies(rows: Iterable[dict[str, Any]], calls: int, examples: Any) -> list[PolicyCount]:
    found = [
        PolicyCount(
            policy_id=r["policy_id"],
            violations=r["violations"] or 0,
            warnings=r["warnings"] or 0,
            violation_rate=(r["violations"] or 0) / calls if calls else 0.0,
            examples=examples(r),
        )
        for r in rows
    ]
    return sorted(found, key=lambda p: (-p.violations, -p.warnings, p.policy_id))


def _certificate(row: dict[str, Any] | None) -> CertificateState:
    if row is None:
        return CertificateState(state="none")
    return CertificateState(
        state="valid" if row["valid"] else "expired",
        certificate_id=row["certificate_id"],
        expires_at=row["expires_at"],
    )


def _agent(a: AgentRow, rows: ReportRows, chain_ok: bool, by: dict[str, Any]) -> AgentReport:
    decisions = by["decisions"][a.agent_id]
    versions = [
        VersionReport(
            version=d["version"],
            counts=counts([d]),
            certificate=_certificate(rows.certificates.get((a.agent_id, d["version"]))),
        )
        for d in decisions
    ]
    total = counts(decisions)
    named = [v for v in versions if v.version]
    certified = sum(v.certificate.state == "valid" for v in named)
    parts = score.score_parts(total, certified, len(named), chain_ok)
    return AgentReport(
        agent_id=a.agent_id,
        name=a.name,
        team=a.team,
        regulatory_scope=a.regulatory_scope,
        counts=total,
        policies=_policies(
            by["policies"][a.agent_id],
            total.calls,
            lambda r: rows.examples.get((a.agent_id, r["policy_id"]), []),
        ),
        versions=versions,
        lifecycle=[
            LifecycleEvent(kind=KINDS[e["action"]], **{k: e[k] for k in LIFECYCLE_FIELDS})
            for e in by["lifecycle"][a.agent_id]
        ],
        score=score.total(parts),
        score_parts=parts,
    )


LIFECYCLE_FIELDS = ("at", "action", "target", "actor", "reason")


def _group(name: str, members: list[AgentReport], chain_ok: bool) -> GroupTotals:
    total = counts(m.counts for m in members)
    named = [v for m in members for v in m.versions if v.version]
    certified = sum(v.certificate.state == "valid" for v in named)
    parts = score.score_parts(total, certified, len(named), chain_ok)
    return GroupTotals(name=name, agents=len(members), counts=total, score=score.total(parts))


def _overall_policies(
    agents: list[AgentReport], calls: int, enabled: list[str]
) -> list[PolicyCount]:
    """Every enabled policy (a clean one with zeros) and every other one that reported."""
    merged: dict[str, dict[str, Any]] = {
        p: {"policy_id": p, "violations": 0, "warnings": 0, "examples": []} for p in enabled
    }
    for a in agents:
        for p in a.policies:
            m = merged.setdefault(
                p.policy_id,
                {"policy_id": p.policy_id, "violations": 0, "warnings": 0, "examples": []},
            )
            m["violations"] += p.violations
            m["warnings"] += p.warnings
            m["examples"] = (m["examples"] + p.examples)[:3]
    return _policies(merged.values(), calls, lambda r: r["examples"])


def _grouped(rows: ReportRows) -> dict[str, Any]:
    by: dict[str, Any] = {k: defaultdict(list) for k in ("decisions", "policies", "lifecycle")}
    for key in by:
        for row in getattr(rows, key):
            by[key][row["agent_id"]].append(row)
    return by


def compute(
    rows: ReportRows,
    period: Period,
    selection: ReportFilter,
    chain: ChainResult,
    now: datetime,
) -> ComplianceReport:
    by = _grouped(rows)
    agents = [_agent(a, rows, chain.ok, by) for a in rows.agents]
    teams: dict[str, list[AgentReport]] = defaultdict(list)
    scopes: dict[str, list[AgentReport]] = defaultdict(list)
    for a in agents:
        teams[a.team].append(a)
        for s in a.regulatory_scope:
            scopes[s].append(a)
    everyone = _group("all", agents, chain.ok)
    return ComplianceReport(
        generated_at=now,
        period=period,
        filter=selection,
        totals=everyone.counts,
        score=everyone.score,
        policies=_overall_policies(agents, everyone.counts.calls, rows.enabled_policies),
        agents=agents,
        teams=[_group(t, teams[t], chain.ok) for t in sorted(teams)],
        scopes=[_group(s, scopes[s], chain.ok) for s in sorted(scopes)],
        daily=[DailyPoint(**d) for d in rows.daily],
        audit_chain=chain,
    )
