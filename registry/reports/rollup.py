"""What the intake adds to the report rollups for the events it stores: per UTC day, agent and
version the decisions, and per policy the events that violated or warned about it (with up to
three request ids as examples). The migration's backfill counts stored events the same way."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from kernel.audit_event import Finding, SidecarEvent, event_at

MAX_EXAMPLES = 3
DECISION_COLUMNS = {
    "allow": "allowed",
    "warn": "warned",
    "deny": "denied",
    "error": "refused",
    "fail_open": "fail_open",
}


@dataclass
class DecisionDelta:
    agent_id: str
    day: date
    version: str  # "" when the sidecar reported none
    calls: int = 0
    allowed: int = 0
    warned: int = 0
    denied: int = 0
    refused: int = 0
    fail_open: int = 0
    violating: int = 0


@dataclass
class PolicyDelta:
    agent_id: str
    day: date
    version: str
    policy_id: str
    kind: str  # "v" violation, "w" warning
    events: int = 0
    examples: list[str] = field(default_factory=list)


def _policy_ids(findings: Iterable[Finding]) -> list[str]:
    """Each policy once per event, in order (a policy may report several findings)."""
    return list(dict.fromkeys(f["policy_id"] for f in findings))


def tally_decisions(
    events: Iterable[SidecarEvent],
) -> tuple[list[DecisionDelta], list[PolicyDelta]]:
    """The deltas of `events`, in key order (so concurrent upserts lock rows in one order)."""
    decisions: dict[tuple[str, date, str], DecisionDelta] = {}
    policies: dict[tuple[str, date, str, str, str], PolicyDelta] = {}
    for e in events:
        key = (e["agent_id"], event_at(e).date(), e["version"] or "")
        d = decisions.get(key)
        if d is None:
            d = decisions[key] = DecisionDelta(*key)
        d.calls += 1
        column = DECISION_COLUMNS[e["decision"]]
        setattr(d, column, getattr(d, column) + 1)
        d.violating += bool(e["violations"])
        for kind, findings in (("v", e["violations"]), ("w", e["warnings"])):
            for policy_id in _policy_ids(findings):
                pkey = (*key, policy_id, kind)
                p = policies.get(pkey)
                if p is None:
                    p = policies[pkey] = PolicyDelta(*pkey)
                p.events += 1
                if len(p.examples) < MAX_EXAMPLES:
                    p.examples.append(e["request_id"])
    return [decisions[k] for k in sorted(decisions)], [policies[k] for k in sorted(policies)]
