"""Render one validated YAML policy as a readable Rego v1 module (its own package).

The output reads like hand-written Rego: one `violations`/`warnings` rule per YAML rule, each
condition clause on its own line, the requirement as a named helper rule. Literals are written
as JSON (with raw UTF-8, never \\u escapes: regopy keeps escapes undecoded), patterns as raw
strings. Fields are read through lib.rego: `agent.*` and `user.*` merged with bundle data,
`derived.*` and `now` computed there, anything else from the input.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from typing import Any

from bundles.model import Clause, Enforcement, Operator, Policy, PolicyType, Rule
from bundles.rate_bands import policy_breakpoints

REGO_KEYWORDS = frozenset(
    "as contains default else every false if import in not null package some true with".split()
)
COMMENT_WIDTH = 96


def literal(value: Any) -> str:
    """A Rego term for a JSON value, spelled the same way the engines receive their input."""
    return json.dumps(value, ensure_ascii=False)


# Roots merged with bundle data (or computed) by lib.rego; every other root is read from the
# input (`lib.request`, the input as an object). Reading per root, not through `lib.facts`,
# lets a decision skip the merges no selected policy needs.
MERGED_ROOTS = {
    "agent": "lib.agent",
    "user": "lib.user",
    "derived": "lib.derived",
    "now": "lib.now",
}


def split_field(path: str) -> tuple[str, list[str]]:
    """(the lib document a dotted field lives in, the segments inside it)."""
    root, *rest = path.split(".")
    if root == "agent" and rest[:1] == ["id"]:
        # lib.agent.id is always lib.input_agent.id (the catalog is looked up by it and the
        # input wins); reading it there spares the catalog merge when nothing else needs it.
        return "lib.input_agent", rest
    if root in MERGED_ROOTS:
        return MERGED_ROOTS[root], rest
    return "lib.request", [root, *rest]


def field_ref(path: str) -> str:
    """`lib.agent.status`, `lib.request.deployment.environment`; keywords as `["in"]`."""
    ref, segments = split_field(path)
    for segment in segments:
        ref += f'["{segment}"]' if segment in REGO_KEYWORDS else f".{segment}"
    return ref


def pattern_literal(pattern: str) -> str:
    return f"`{pattern}`" if "`" not in pattern else literal(pattern)


def clause_expr(clause: Clause) -> str:
    """One Rego expression that is true exactly when the clause holds."""
    ref = field_ref(clause.field)
    op, value = clause.operator, clause.value
    if op is Operator.EQUALS:
        return f"{ref} == {literal(value)}"
    if op is Operator.NOT_EQUALS:
        return f"{ref} != {literal(value)}"
    if op is Operator.IN:
        return f"{ref} in {literal(value)}"
    if op is Operator.NOT_IN:
        return f"lib.not_in({ref}, {literal(value)})"
    if op is Operator.NOT_NULL:
        return f"{ref} != null"
    if op is Operator.IS_NULL:
        # Not `not lib.has_value(ref)`: OPA makes `not f(<undefined>)` undefined, not true.
        base, segments = split_field(clause.field)
        if not segments:
            return f"{base} == null"
        return f"object.get({base}, {literal(segments)}, null) == null"
    if op is Operator.MATCHES:
        return f"lib.matches({ref}, {pattern_literal(value)})"
    if op is Operator.CONTAINS:
        return f"lib.contains_value({ref}, {literal(value)})"
    numeric = {
        Operator.GT: "greater_than",
        Operator.GTE: "greater_or_equal",
        Operator.LT: "less_than",
        Operator.LTE: "less_or_equal",
    }
    return f"lib.{numeric[op]}({ref}, {literal(value)})"


def clause_text(clause: Clause) -> str:
    """The clause as the author wrote it, for comments."""
    text = f"{clause.field} {clause.operator.value}"
    return text if clause.value is None else f"{text} {literal(clause.value)}"


def comment(text: str, indent: str = "") -> list[str]:
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    wrapped = textwrap.wrap(flat, COMMENT_WIDTH - len(indent) - 2) or [""]
    return [f"{indent}# {line}".rstrip() for line in wrapped]


def rule_message(policy: Policy, rule: Rule) -> str:
    if rule.message:
        return rule.message
    if policy.message:
        return policy.message
    return f"{policy.name}: requires {clause_text(rule.requirement)}".replace('"', "'")


def render_rule(policy: Policy, index: int, rule: Rule, location: str) -> list[str]:
    number = index + 1
    met = f"rule_{number}_requirement_met"
    head = "violations" if policy.enforcement is Enforcement.DENY else "warnings"
    finding = f'{{"policy_id": policy_id, "message": {literal(rule_message(policy, rule))}}}'
    lines = [f"# Rule {number} ({location})"]
    lines += comment("when " + " and ".join(clause_text(c) for c in rule.condition))
    lines += comment(f"require {clause_text(rule.requirement)}")
    lines.append(f"{head} contains {finding} if {{")
    lines += [f"\t{clause_expr(c)}" for c in rule.condition]
    lines.append(f"\tnot {met}")
    lines.append("}")
    lines.append("")
    lines.append(f"{met} if {clause_expr(rule.requirement)}")
    return lines


def render_policy(policy: Policy, source: str, rule_locations: Sequence[str]) -> str:
    """The module text for `policy`, compiled from `source` (named in the header)."""
    state = "enabled" if policy.enabled else "disabled"
    lines = [
        f"# Generated by bundles.compiler from {source}",
        "# Do not edit: change the YAML and compile again.",
        "#",
        *comment(
            f"{policy.policy_id} ({policy.type.value}, {policy.enforcement.value}, {state}): "
            f"{policy.name}"
        ),
        *comment(policy.description),
        f"package greenlang.policies.{policy.package_key}",
        "",
        "import data.greenlang.lib",
        "",
        f"policy_id := {literal(policy.policy_id)}",
    ]
    for index, rule in enumerate(policy.rules):
        lines.append("")
        lines += render_rule(policy, index, rule, rule_locations[index])
    lines += render_breakpoints(policy)
    return "\n".join(lines) + "\n"


def render_breakpoints(policy: Policy) -> list[str]:
    """`breakpoints` of a rate_limiting policy (bundles/rate_bands.py), when they can be told."""
    if policy.type is not PolicyType.RATE_LIMITING:
        return []
    points = policy_breakpoints(policy)
    if points is None:
        return ["", "# No breakpoints: this policy reads `rate` in a way not bounded here."]
    return [
        "",
        "# Values of rate.current at which these findings can change (bundles/rate_bands.py).",
        f"breakpoints := {literal(points)}",
    ]
