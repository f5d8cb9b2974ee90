"""Where a YAML policy's findings can change as `rate.current` grows: its breakpoints.

The sidecar measures `rate.current` on every call, so the rate part of its decision cannot be
cached by input the way the rest is. But a policy compares the count against constants: between
two of them its findings stay the same. A policy that declares `breakpoints` (a set of whole
numbers) promises exactly that: for any two counts with no breakpoint b such that
`min < b <= max`, the rest of the input being equal, its findings are equal. The sidecar then
reuses a rate verdict for every count of the same band (docs/sidecar.md, Decisions).

A superset of the true breakpoints is always safe (bands only get narrower), so each constant
contributes its floor and ceiling and the next whole number after each: that covers `>`, `>=`,
`<`, `<=`, `==` and `in` whether the constant is whole or not.
"""

from __future__ import annotations

import math

from bundles.model import Clause, Operator, Policy

RATE_CURRENT = "rate.current"
# Fields of `rate` that are the same on every call of a sidecar (part of "the rest of the input").
FIXED_RATE_FIELDS = frozenset({"rate.window_s"})
# Operators whose result on a count does not depend on its value: a whole number is never null,
# never matches a pattern (strings only) and never contains anything (strings and lists only).
VALUE_BLIND = frozenset({Operator.NOT_NULL, Operator.IS_NULL, Operator.MATCHES, Operator.CONTAINS})
# Counts the sidecar can measure lie in [0, 2^53): breakpoints outside never separate two of them.
MAX_BREAKPOINT = 2**53


def _around(value: object) -> set[int]:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return set()  # a count never equals a string, boolean or null
    low, high = math.floor(value), math.ceil(value)
    return {b for b in (low, low + 1, high, high + 1) if 0 <= b <= MAX_BREAKPOINT}


def _clause_breakpoints(clause: Clause) -> set[int] | None:
    """The breakpoints one clause adds; None when it reads `rate` in a way not understood."""
    field = clause.field
    if field != "rate" and not field.startswith("rate."):
        return set()
    if field in FIXED_RATE_FIELDS:
        return set()
    if field != RATE_CURRENT:
        return None  # `rate` as a whole, rate.current.x, or a field the sidecar does not fix
    if clause.operator in VALUE_BLIND:
        return set()
    values = clause.value if isinstance(clause.value, list) else [clause.value]
    return set().union(*(_around(v) for v in values))


def policy_breakpoints(policy: Policy) -> list[int] | None:
    """The sorted breakpoints of `policy` in `rate.current`; None when they cannot be told
    (the policy then declares none and the sidecar asks the engine on every call)."""
    found: set[int] = set()
    for rule in policy.rules:
        for clause in (*rule.condition, rule.requirement):
            points = _clause_breakpoints(clause)
            if points is None:
                return None
            found |= points
    return sorted(found)
