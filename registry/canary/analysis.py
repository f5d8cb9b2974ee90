"""The canary analysis as a pure function: settings, state and one interval's metrics in, a
verdict out. No I/O, no clock; the controller stores every verdict and applies its new state.

Rules (issue 10, in this order):
1. Counts that cannot be trusted (NaN, infinite, negative or non-numeric; errors or denials above
   calls) make the interval *inconclusive*, never a pass and never a failed check: broken
   metrics are missing metrics.
2. Fewer than `min_requests` canary calls: *inconclusive*. It neither advances nor counts as a
   pass; every inconclusive interval counts against `inconclusive_budget`, and the interval that
   reaches the budget rolls back.
3. Checks: success rate (non-5xx share, percent) below `min_success_rate`; p99 above
   `max_p99_ms` (+inf is above); canary policy-denial rate above the stable one (a stable without
   calls counts as rate 0, so any canary denial then fails). Values exactly at a limit pass.
4. Any failed check: the interval is one failed check (however many rules failed); the weight
   holds, and the interval that reaches `threshold` failed checks rolls back. This holds even
   when p99 is unmeasured: a measured failure is a failure.
5. Otherwise a p99 that is not measured (None, NaN, negative): *inconclusive* (rule 2's budget).
6. All checks pass: advance to the next step weight; passing at the last step promotes.

Both counters are cumulative over the canary's run (a pass does not reset them), as in Flagger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum
from fractions import Fraction
from itertools import pairwise
from typing import Any

PROMOTED_WEIGHT = 100
ROLLED_BACK_WEIGHT = 0


class Action(StrEnum):
    ADVANCE = "advance"
    HOLD = "hold"
    ROLLBACK = "rollback"
    PROMOTE = "promote"
    INCONCLUSIVE = "inconclusive"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    """An int (not a bool) or a finite float."""
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


@dataclass(frozen=True)
class CanarySettings:
    """What a canary is judged against; validated here so a bad flag is a clear ValueError."""

    step_weights: tuple[int, ...] = (10, 25, 50)
    threshold: int = 3
    min_success_rate: float = 99.0  # percent of calls that are not 5xx
    max_p99_ms: float = 500.0
    min_requests: int = 20
    inconclusive_budget: int = 5

    def __post_init__(self) -> None:
        weights = self.step_weights
        if isinstance(weights, str) or not hasattr(weights, "__iter__"):
            raise ValueError("step_weights must be a sequence of integers, e.g. 10,25,50")
        weights = tuple(weights)
        object.__setattr__(self, "step_weights", weights)
        if not weights:
            raise ValueError("step_weights must name at least one weight")
        if not all(_is_int(w) and 1 <= w <= 99 for w in weights):
            raise ValueError(f"step_weights must be integers from 1 to 99, got {list(weights)}")
        if any(a >= b for a, b in pairwise(weights)):
            raise ValueError(f"step_weights must be strictly increasing, got {list(weights)}")
        _positive_int("threshold", self.threshold)
        _positive_int("min_requests", self.min_requests)
        _positive_int("inconclusive_budget", self.inconclusive_budget)
        rate = self.min_success_rate
        if not _is_real(rate) or not 0 <= rate <= 100:
            raise ValueError(f"min_success_rate must be a percentage from 0 to 100, got {rate!r}")
        if not _is_real(self.max_p99_ms) or self.max_p99_ms <= 0:
            raise ValueError(f"max_p99_ms must be a positive number, got {self.max_p99_ms!r}")


def _positive_int(name: str, value: Any) -> None:
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be an integer of at least 1, got {value!r}")


@dataclass(frozen=True)
class IntervalMetrics:
    """One interval, canary and stable over the same window. Counts may arrive as floats from a
    metrics backend; anything not finite and non-negative makes the interval inconclusive."""

    calls: int
    errors_5xx: int
    p99_ms: float | None
    policy_denials: int
    stable_calls: int
    stable_policy_denials: int


@dataclass(frozen=True)
class CanaryState:
    """Where a running canary is: the step index into `step_weights`, the weight served, and the
    two counters. A finished canary has weight 0 (rolled back) or 100 (promoted)."""

    step: int
    weight: int
    failed_checks: int = 0
    inconclusive_count: int = 0

    @classmethod
    def initial(cls, settings: CanarySettings) -> CanaryState:
        return cls(step=0, weight=settings.step_weights[0])

    @property
    def finished(self) -> bool:
        return self.weight in (ROLLED_BACK_WEIGHT, PROMOTED_WEIGHT)


@dataclass(frozen=True)
class Measured:
    """The values a verdict was based on (None where they could not be measured)."""

    calls: float | None
    success_rate: float | None
    p99_ms: float | None
    violation_rate: float | None
    stable_violation_rate: float | None


@dataclass(frozen=True)
class Verdict:
    action: Action
    state: CanaryState
    measured: Measured
    reason: str
    failed: tuple[str, ...] = ()  # names of the failed checks: success_rate, p99, violations


def judge(settings: CanarySettings, state: CanaryState, metrics: IntervalMetrics) -> Verdict:
    """Judge one interval. Raises ValueError only when `state` does not belong to `settings`
    (a programming error); no metric value ever raises, and nothing unmeasured ever passes."""
    _check_state(settings, state)
    measured = _measure(metrics)
    problem = _invalid(metrics)
    if problem is not None:
        return _inconclusive(settings, state, measured, f"invalid metrics: {problem}")
    if metrics.calls < settings.min_requests:
        reason = f"{_num(metrics.calls)} calls, fewer than min_requests {settings.min_requests}"
        return _inconclusive(settings, state, measured, reason)
    failures = _failed_checks(settings, metrics, measured)
    if failures:
        return _hold_or_rollback(settings, state, measured, failures)
    if measured.p99_ms is None:
        why = f"p99 not measured ({metrics.p99_ms!r})"
        return _inconclusive(settings, state, measured, why)
    return _advance_or_promote(settings, state, measured)


def _check_state(settings: CanarySettings, state: CanaryState) -> None:
    if state.finished:
        raise ValueError(f"the canary is finished (weight {state.weight}); nothing to judge")
    if not 0 <= state.step < len(settings.step_weights):
        raise ValueError(f"step {state.step} is outside step_weights {settings.step_weights}")
    if state.weight != settings.step_weights[state.step]:
        raise ValueError(
            f"weight {state.weight} is not step {state.step} of {settings.step_weights}"
        )
    if state.failed_checks < 0 or state.inconclusive_count < 0:
        raise ValueError("failed_checks and inconclusive_count cannot be negative")


def _invalid(m: IntervalMetrics) -> str | None:
    """Why these counts cannot be trusted, or None."""
    counts = {
        "calls": m.calls,
        "errors_5xx": m.errors_5xx,
        "policy_denials": m.policy_denials,
        "stable_calls": m.stable_calls,
        "stable_policy_denials": m.stable_policy_denials,
    }
    for name, value in counts.items():
        if not _is_real(value) or value < 0:
            return f"{name} is {value!r}, not a finite non-negative number"
    if m.errors_5xx > m.calls:
        return f"errors_5xx {_num(m.errors_5xx)} exceed calls {_num(m.calls)}"
    if m.policy_denials > m.calls:
        return f"policy_denials {_num(m.policy_denials)} exceed calls {_num(m.calls)}"
    if m.stable_policy_denials > m.stable_calls:
        return (
            f"stable_policy_denials {_num(m.stable_policy_denials)} "
            f"exceed stable_calls {_num(m.stable_calls)}"
        )
    return None


def _measure(m: IntervalMetrics) -> Measured:
    """Rates from the counts; None for anything that cannot be computed."""
    calls = _as_float(m.calls) if _is_real(m.calls) and m.calls >= 0 else None
    return Measured(
        calls=calls,
        success_rate=_rate(_diff(m.calls, m.errors_5xx), m.calls),
        p99_ms=_p99(m.p99_ms),
        violation_rate=_rate(m.policy_denials, m.calls),
        stable_violation_rate=_rate(m.stable_policy_denials, m.stable_calls),
    )


def _p99(value: Any) -> float | None:
    """A measured p99 is a non-negative number; +inf (slower than anything) is measured too."""
    if _is_real(value) and value >= 0:
        return _as_float(value)
    return math.inf if isinstance(value, float) and value == math.inf else None


def _as_float(value: int | float) -> float | None:
    try:
        return float(value)
    except OverflowError:  # an int beyond float range: not a measurement
        return None


def _diff(a: Any, b: Any) -> Any:
    return a - b if _is_real(a) and _is_real(b) else None


def _rate(part: Any, whole: Any) -> float | None:
    """Percent, or None when not computable (no calls, bad counts)."""
    if not (_is_real(part) and _is_real(whole)) or whole <= 0 or not 0 <= part <= whole:
        return None
    return float(Fraction(part) * 100 / Fraction(whole))


def _failed_checks(
    settings: CanarySettings, m: IntervalMetrics, measured: Measured
) -> list[tuple[str, str]]:
    """(check name, why) for every failed check. Compared exactly (fractions, the limits as
    written) so a value at a limit passes and float rounding never decides."""
    failed = []
    ok = Fraction(m.calls) - Fraction(m.errors_5xx)
    if ok * 100 < _exact(settings.min_success_rate) * Fraction(m.calls):
        why = f"success rate {_pct(measured.success_rate)} below {_num(settings.min_success_rate)}%"
        failed.append(("success_rate", why))
    if measured.p99_ms is not None and measured.p99_ms > settings.max_p99_ms:
        why = f"p99 {_num(measured.p99_ms)} ms above {_num(settings.max_p99_ms)} ms"
        failed.append(("p99", why))
    # canary denials/calls above stable denials/calls (a stable without calls: rate 0)
    canary = Fraction(m.policy_denials) * max(Fraction(m.stable_calls), Fraction(1))
    stable = Fraction(m.stable_policy_denials) * Fraction(m.calls)
    if canary > stable:
        why = (
            f"policy violation rate {_pct(measured.violation_rate)} above stable "
            f"{_pct(measured.stable_violation_rate or 0.0)}"
        )
        failed.append(("violations", why))
    return failed


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}%"


def _exact(limit: float) -> Fraction:
    """The limit as its shortest decimal (99.9 is 999/10, not the binary float below it)."""
    return Fraction(repr(limit)) if isinstance(limit, float) else Fraction(limit)


def _num(value: Any) -> str:
    """Counts and limits without a pointless `.0`."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _inconclusive(
    settings: CanarySettings, state: CanaryState, measured: Measured, why: str
) -> Verdict:
    count = state.inconclusive_count + 1
    budget = settings.inconclusive_budget
    if count >= budget:
        new = replace(state, weight=ROLLED_BACK_WEIGHT, inconclusive_count=count)
        reason = f"{why}; inconclusive budget exhausted ({count} of {budget}): rollback"
        return Verdict(Action.ROLLBACK, new, measured, reason)
    new = replace(state, inconclusive_count=count)
    reason = f"{why}; inconclusive {count} of {budget}, weight held at {state.weight}%"
    return Verdict(Action.INCONCLUSIVE, new, measured, reason)


def _hold_or_rollback(
    settings: CanarySettings,
    state: CanaryState,
    measured: Measured,
    failures: list[tuple[str, str]],
) -> Verdict:
    count = state.failed_checks + 1
    names = tuple(name for name, _ in failures)
    why = "; ".join(text for _, text in failures)
    if count >= settings.threshold:
        new = replace(state, weight=ROLLED_BACK_WEIGHT, failed_checks=count)
        reason = f"{why}; failed check {count} of {settings.threshold}: rollback"
        return Verdict(Action.ROLLBACK, new, measured, reason, names)
    new = replace(state, failed_checks=count)
    reason = f"{why}; failed check {count} of {settings.threshold}, weight held at {state.weight}%"
    return Verdict(Action.HOLD, new, measured, reason, names)


def _advance_or_promote(
    settings: CanarySettings, state: CanaryState, measured: Measured
) -> Verdict:
    nxt = state.step + 1
    if nxt >= len(settings.step_weights):
        new = replace(state, weight=PROMOTED_WEIGHT)
        return Verdict(
            Action.PROMOTE,
            new,
            measured,
            f"all checks passed at the last step ({state.weight}%): promote",
        )
    weight = settings.step_weights[nxt]
    new = replace(state, step=nxt, weight=weight)
    reason = f"all checks passed at {state.weight}%: advance to {weight}%"
    return Verdict(Action.ADVANCE, new, measured, reason)
