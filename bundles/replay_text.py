"""A policy replay report (POST /api/v1/policies/replay, docs/reports.md) as text for a
terminal: `greenlang-governance policy replay --format text`."""

from __future__ import annotations

from typing import Any

MAX_EXAMPLES = 5


def as_text(report: dict[str, Any]) -> str:
    """The report for a terminal."""
    lines = [
        f"period {report['from']} .. {report['to']}"
        + (f", agent {report['agent_id']}" if report.get("agent_id") else ""),
        f"draft {report['policy_id']} "
        + ("(replaces the stored policy)" if report["replaces"] else "(added)")
        + ("" if report.get("enabled", True) else ", disabled"),
        f"replayed {report['replayed']}: unchanged {report['unchanged']}, "
        f"changed {report['changed']}, newly denied {report['newly_denied']}",
    ]
    for c in report["changes"]:
        lines.append(f"  {c['from']} -> {c['to']}: {c['count']}  e.g. {', '.join(c['examples'])}")
    for row in report["by_agent_and_role"]:
        lines.append(
            f"    {row['agent_id']} role {row['role']}: {row['from']} -> {row['to']} {row['count']}"
        )
    if report["differs_from_recorded"]:
        lines.append(
            f"note: {report['differs_from_recorded']} calls decide differently today than when "
            "recorded, without the draft (catalog, bindings or policies changed since)"
        )
    if report["tampered"]:
        lines.append(
            f"TAMPERED: {len(report['tampered'])} inputs do not match their audit event's hash "
            f"and were not replayed: {', '.join(report['tampered'][:MAX_EXAMPLES])}"
        )
    if report["truncated"]:
        lines.append("note: the period holds more calls than one replay takes; narrow it")
    return "\n".join(lines) + "\n"
