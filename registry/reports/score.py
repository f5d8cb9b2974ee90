"""The compliance score (docs/reports.md, "Score"): 0-100, the sum of four parts.

- violations (50): 50 while the violation rate is under the plan's 0.1 % target, falling
  linearly to 0 at 1 % (ten times the target);
- decisions (20): 20 x the share of calls that got a policy decision (not `error`, not
  `fail_open`);
- certificates (15): 15 x the share of called versions holding a valid certificate now;
- audit chain (15): 15 when the audit chain verifies, else 0.

An agent without calls scores the full violation and decision parts: nothing went wrong."""

from __future__ import annotations

from registry.reports.model import TARGET_VIOLATION_RATE, Counts, ScoreParts

ZERO_AT_RATE = 10 * TARGET_VIOLATION_RATE


def violation_part(rate: float) -> float:
    if rate < TARGET_VIOLATION_RATE:
        return 50.0
    return 50.0 * max(0.0, (ZERO_AT_RATE - rate) / (ZERO_AT_RATE - TARGET_VIOLATION_RATE))


def score_parts(counts: Counts, certified: int, versions: int, chain_ok: bool) -> ScoreParts:
    decided = 1.0 if counts.calls == 0 else 1 - (counts.refused + counts.fail_open) / counts.calls
    return ScoreParts(
        violations=round(violation_part(counts.violation_rate), 2),
        decisions=round(20.0 * decided, 2),
        certificates=round(15.0 * (certified / versions if versions else 1.0), 2),
        audit_chain=15.0 if chain_ok else 0.0,
    )


def total(parts: ScoreParts) -> float:
    return round(parts.violations + parts.decisions + parts.certificates + parts.audit_chain, 1)
