"""What a replay found: verdicts before (the current bundle) and after (with the draft),
counted per change, per agent and per caller role, with example request ids."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from registry.replay.inputs import Recorded

MAX_EXAMPLES = 5
NO_ROLE = "(none)"


@dataclass(frozen=True)
class Outcome:
    """One replayed call: the current bundle's verdict and the draft bundle's."""

    call: Recorded
    before: str
    after: str


def caller_role(call: Recorded) -> str:
    """The caller's roles as recorded (sorted, comma-joined; one bucket per set of roles)."""
    user = call.input.get("pre", {}).get("user") if isinstance(call.input, dict) else None
    roles = user.get("roles") if isinstance(user, dict) else None
    if not isinstance(roles, list) or not roles:
        return NO_ROLE
    return ",".join(sorted(str(r) for r in roles))


@dataclass
class _Bucket:
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, call: Recorded) -> None:
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(call.request_id or call.event_id)


def summarize(
    outcomes: Iterable[Outcome], *, tampered: list[str], truncated: bool
) -> dict[str, Any]:
    """The replay report (docs/reports.md, "Policy replay")."""
    totals: dict[tuple[str, str], _Bucket] = {}
    detail: dict[tuple[str, str, str, str], _Bucket] = {}
    replayed = unchanged = drift = 0
    for o in outcomes:
        replayed += 1
        drift += o.before != o.call.decision
        if o.before == o.after:
            unchanged += 1
            continue
        totals.setdefault((o.before, o.after), _Bucket()).add(o.call)
        key = (o.call.agent_id, caller_role(o.call), o.before, o.after)
        detail.setdefault(key, _Bucket()).add(o.call)
    changes = [
        {"from": b, "to": a, "count": v.count, "examples": v.examples}
        for (b, a), v in sorted(totals.items())
    ]
    return {
        "replayed": replayed,
        "unchanged": unchanged,
        "changed": replayed - unchanged,
        "newly_denied": sum(c["count"] for c in changes if c["to"] == "deny"),
        "changes": changes,
        "by_agent_and_role": [
            {"agent_id": g, "role": r, "from": b, "to": a, "count": v.count, "examples": v.examples}
            for (g, r, b, a), v in sorted(detail.items())
        ],
        "by_agent": _rollup(detail, 0),
        "by_role": _rollup(detail, 1),
        "differs_from_recorded": drift,
        "tampered": tampered,
        "truncated": truncated,
    }


def _rollup(detail: dict[tuple[str, str, str, str], _Bucket], part: int) -> dict[str, Any]:
    out: dict[str, Counter[str]] = {}
    for key, v in detail.items():
        out.setdefault(key[part], Counter())[f"{key[2]}->{key[3]}"] += v.count
    return {k: dict(sorted(c.items())) for k, c in sorted(out.items())}
