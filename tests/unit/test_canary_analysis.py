"""The canary analysis as a pure function (registry/canary/analysis.py): settings validation,
every rule and its boundary, broken metrics never passing, and whole runs interval by interval."""

from __future__ import annotations

import math
from typing import Any

import pytest

from registry.canary.analysis import (
    Action,
    CanarySettings,
    CanaryState,
    IntervalMetrics,
    Verdict,
    judge,
)

A = Action
SETTINGS = CanarySettings(
    step_weights=(10, 25, 50),
    threshold=3,
    min_success_rate=99.0,
    max_p99_ms=500.0,
    min_requests=20,
    inconclusive_budget=3,
)
START = CanaryState.initial(SETTINGS)


def metrics(**over: Any) -> IntervalMetrics:
    fields: dict[str, Any] = {
        "calls": 100,
        "errors_5xx": 0,
        "p99_ms": 120.0,
        "policy_denials": 0,
        "stable_calls": 900,
        "stable_policy_denials": 0,
    }
    return IntervalMetrics(**(fields | over))


def verdict(
    state: CanaryState = START, settings: CanarySettings = SETTINGS, **over: Any
) -> Verdict:
    return judge(settings, state, metrics(**over))


# --- settings -------------------------------------------------------------------------------


def test_the_defaults_are_valid_and_start_at_the_first_step() -> None:
    assert CanarySettings().step_weights == (10, 25, 50)
    assert START == CanaryState(step=0, weight=10, failed_checks=0, inconclusive_count=0)
    assert not START.finished


def test_step_weights_given_as_a_list_become_a_tuple() -> None:
    assert CanarySettings(step_weights=[5, 50]).step_weights == (5, 50)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"step_weights": ()}, "at least one weight"),
        ({"step_weights": (10, 10)}, "strictly increasing"),
        ({"step_weights": (50, 25)}, "strictly increasing"),
        ({"step_weights": (0, 10)}, "from 1 to 99"),
        ({"step_weights": (10, 100)}, "from 1 to 99"),
        ({"step_weights": (10.0, 20)}, "from 1 to 99"),
        ({"step_weights": (True, 20)}, "from 1 to 99"),
        ({"step_weights": "10,25"}, "sequence of integers"),
        ({"step_weights": 10}, "sequence of integers"),
        ({"threshold": 0}, "threshold must be an integer of at least 1"),
        ({"threshold": 2.5}, "threshold"),
        ({"min_requests": 0}, "min_requests must be an integer of at least 1"),
        ({"inconclusive_budget": 0}, "inconclusive_budget"),
        ({"min_success_rate": 100.1}, "min_success_rate"),
        ({"min_success_rate": -1}, "min_success_rate"),
        ({"min_success_rate": math.nan}, "min_success_rate"),
        ({"max_p99_ms": 0}, "max_p99_ms must be a positive number"),
        ({"max_p99_ms": math.inf}, "max_p99_ms"),
        ({"max_p99_ms": math.nan}, "max_p99_ms"),
    ],
)
def test_bad_settings_are_a_clear_value_error(over: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CanarySettings(**over)


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (CanaryState(step=0, weight=0), "finished"),
        (CanaryState(step=2, weight=100), "finished"),
        (CanaryState(step=3, weight=60), "outside step_weights"),
        (CanaryState(step=-1, weight=10), "outside step_weights"),
        (CanaryState(step=1, weight=10), "not step 1"),
        (CanaryState(step=0, weight=10, failed_checks=-1), "negative"),
    ],
)
def test_a_state_that_does_not_belong_to_the_settings_is_a_value_error(
    state: CanaryState, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        judge(SETTINGS, state, metrics())


# --- all checks pass ------------------------------------------------------------------------


def test_all_checks_passing_advances_to_the_next_weight() -> None:
    v = verdict()
    assert v.action is A.ADVANCE
    assert v.state == CanaryState(step=1, weight=25)
    assert v.failed == ()
    assert "advance to 25%" in v.reason
    assert v.measured.calls == 100
    assert v.measured.success_rate == 100.0
    assert v.measured.p99_ms == 120.0
    assert v.measured.violation_rate == 0.0
    assert v.measured.stable_violation_rate == 0.0


def test_passing_at_the_last_step_promotes() -> None:
    v = verdict(CanaryState(step=2, weight=50, failed_checks=1, inconclusive_count=2))
    assert v.action is A.PROMOTE
    assert v.state.weight == 100 and v.state.finished
    assert (v.state.failed_checks, v.state.inconclusive_count) == (1, 2)
    assert "promote" in v.reason


def test_a_single_step_canary_promotes_after_one_pass() -> None:
    settings = CanarySettings(step_weights=(10,))
    assert verdict(CanaryState.initial(settings), settings).action is A.PROMOTE


# --- success rate ---------------------------------------------------------------------------


def test_a_success_rate_exactly_at_the_minimum_passes() -> None:
    assert verdict(calls=100, errors_5xx=1).action is A.ADVANCE  # 99.00%


def test_a_success_rate_just_below_the_minimum_fails() -> None:
    v = verdict(calls=1000, errors_5xx=11)  # 98.9%
    assert v.action is A.HOLD
    assert v.failed == ("success_rate",)
    assert v.state == CanaryState(step=0, weight=10, failed_checks=1)
    assert "success rate 98.90% below 99%" in v.reason
    assert v.measured.success_rate == pytest.approx(98.9)


def test_a_decimal_minimum_is_compared_exactly_not_as_a_binary_float() -> None:
    settings = CanarySettings(min_success_rate=99.9)
    state = CanaryState.initial(settings)
    assert verdict(state, settings, calls=1000, errors_5xx=1).action is A.ADVANCE  # 99.9%
    assert verdict(state, settings, calls=10000, errors_5xx=11).action is A.HOLD  # 99.89%


def test_a_minimum_of_100_fails_on_one_error() -> None:
    settings = CanarySettings(min_success_rate=100)
    assert verdict(CanaryState.initial(settings), settings, errors_5xx=1).action is A.HOLD


# --- p99 ------------------------------------------------------------------------------------


def test_p99_exactly_at_the_maximum_passes_and_above_fails() -> None:
    assert verdict(p99_ms=500.0).action is A.ADVANCE
    v = verdict(p99_ms=500.1)
    assert v.action is A.HOLD and v.failed == ("p99",)
    assert "p99 500.1 ms above 500 ms" in v.reason


def test_an_infinite_p99_is_measured_and_fails() -> None:
    v = verdict(p99_ms=math.inf)
    assert v.action is A.HOLD and v.failed == ("p99",)


@pytest.mark.parametrize("p99", [None, math.nan, -1.0, -math.inf, "fast", True])
def test_an_unmeasured_p99_is_inconclusive_never_a_pass(p99: Any) -> None:
    v = verdict(p99_ms=p99)
    assert v.action is A.INCONCLUSIVE
    assert v.state == CanaryState(step=0, weight=10, inconclusive_count=1)
    assert "p99 not measured" in v.reason
    assert v.measured.p99_ms is None


def test_an_unmeasured_p99_does_not_hide_a_measured_failure() -> None:
    v = verdict(p99_ms=math.nan, errors_5xx=30)
    assert v.action is A.HOLD and v.failed == ("success_rate",)


# --- policy violations ----------------------------------------------------------------------


def test_a_violation_rate_equal_to_the_stable_one_passes() -> None:
    assert verdict(policy_denials=2, stable_policy_denials=18).action is A.ADVANCE  # 2% vs 2%


def test_a_violation_rate_above_the_stable_one_fails() -> None:
    v = verdict(policy_denials=3, stable_policy_denials=18)  # 3% vs 2%
    assert v.action is A.HOLD and v.failed == ("violations",)
    assert "policy violation rate 3.00% above stable 2.00%" in v.reason
    assert v.measured.violation_rate == 3.0
    assert v.measured.stable_violation_rate == 2.0


def test_a_violation_rate_below_the_stable_one_passes() -> None:
    assert verdict(policy_denials=1, stable_policy_denials=18).action is A.ADVANCE


def test_a_stable_without_calls_counts_as_rate_zero() -> None:
    assert verdict(stable_calls=0, stable_policy_denials=0).action is A.ADVANCE
    v = verdict(stable_calls=0, stable_policy_denials=0, policy_denials=1)
    assert v.action is A.HOLD and v.failed == ("violations",)
    assert v.measured.stable_violation_rate is None


def test_every_failed_rule_is_named_but_the_interval_counts_once() -> None:
    v = verdict(errors_5xx=50, p99_ms=900.0, policy_denials=5)
    assert v.failed == ("success_rate", "p99", "violations")
    assert v.state.failed_checks == 1


# --- failed checks and threshold ------------------------------------------------------------


def test_the_failed_check_that_reaches_the_threshold_rolls_back() -> None:
    v = verdict(CanaryState(step=1, weight=25, failed_checks=2), errors_5xx=5)
    assert v.action is A.ROLLBACK
    assert v.state == CanaryState(step=1, weight=0, failed_checks=3)
    assert v.state.finished
    assert "failed check 3 of 3: rollback" in v.reason


def test_a_threshold_of_one_rolls_back_on_the_first_failure() -> None:
    settings = CanarySettings(threshold=1)
    v = verdict(CanaryState.initial(settings), settings, errors_5xx=5)
    assert v.action is A.ROLLBACK


def test_a_pass_does_not_reset_the_failed_checks() -> None:
    v = verdict(CanaryState(step=0, weight=10, failed_checks=2))
    assert v.action is A.ADVANCE and v.state.failed_checks == 2


# --- too little traffic and broken metrics --------------------------------------------------


def test_fewer_than_min_requests_is_inconclusive_even_when_perfect() -> None:
    v = verdict(calls=19)
    assert v.action is A.INCONCLUSIVE
    assert v.state == CanaryState(step=0, weight=10, inconclusive_count=1)
    assert "19 calls, fewer than min_requests 20" in v.reason
    assert "inconclusive 1 of 3" in v.reason


def test_exactly_min_requests_is_judged() -> None:
    assert verdict(calls=20).action is A.ADVANCE


def test_too_little_traffic_is_inconclusive_even_when_failing() -> None:
    assert verdict(calls=10, errors_5xx=10).action is A.INCONCLUSIVE


def test_an_empty_interval_is_inconclusive_and_its_rates_are_unmeasured() -> None:
    v = verdict(calls=0, stable_calls=0, p99_ms=None)
    assert v.action is A.INCONCLUSIVE
    assert v.measured.calls == 0
    assert v.measured.success_rate is None
    assert v.measured.violation_rate is None


def test_the_inconclusive_interval_that_reaches_the_budget_rolls_back() -> None:
    v = verdict(CanaryState(step=1, weight=25, inconclusive_count=2), calls=0)
    assert v.action is A.ROLLBACK
    assert v.state == CanaryState(step=1, weight=0, inconclusive_count=3)
    assert "inconclusive budget exhausted (3 of 3): rollback" in v.reason
    assert v.failed == ()


@pytest.mark.parametrize(
    ("over", "why"),
    [
        ({"calls": math.nan}, "calls is nan"),
        ({"calls": -1}, "calls is -1"),
        ({"calls": math.inf}, "calls is inf"),
        ({"calls": None}, "calls is None"),
        ({"calls": "100"}, "calls is '100'"),
        ({"calls": True}, "calls is True"),
        ({"errors_5xx": -1}, "errors_5xx is -1"),
        ({"errors_5xx": math.nan}, "errors_5xx is nan"),
        ({"policy_denials": -2}, "policy_denials is -2"),
        ({"stable_calls": math.nan}, "stable_calls is nan"),
        ({"stable_policy_denials": -1}, "stable_policy_denials is -1"),
        ({"errors_5xx": 101}, "errors_5xx 101 exceed calls 100"),
        ({"policy_denials": 101}, "policy_denials 101 exceed calls 100"),
        ({"stable_policy_denials": 901}, "stable_policy_denials 901 exceed stable_calls 900"),
    ],
)
def test_broken_counts_are_inconclusive_never_a_pass_never_raise(
    over: dict[str, Any], why: str
) -> None:
    v = verdict(**over)
    assert v.action is A.INCONCLUSIVE
    assert v.state.inconclusive_count == 1 and v.state.failed_checks == 0
    assert v.reason.startswith(f"invalid metrics: {why}")


def test_counts_from_a_metrics_backend_may_be_floats() -> None:
    assert verdict(calls=100.0, errors_5xx=1.0, stable_calls=899.7).action is A.ADVANCE
    assert verdict(calls=19.9).action is A.INCONCLUSIVE


def test_counts_beyond_float_range_do_not_raise() -> None:
    v = verdict(calls=10**400, stable_calls=10**400, p99_ms=10**400)
    assert v.action is A.INCONCLUSIVE  # a p99 beyond float range is not a measurement
    assert v.measured.calls is None


# --- whole runs -----------------------------------------------------------------------------


def run(intervals: list[IntervalMetrics], settings: CanarySettings = SETTINGS) -> list[Verdict]:
    """Feed intervals until the canary finishes, as the controller will."""
    state, verdicts = CanaryState.initial(settings), []
    for m in intervals:
        v = judge(settings, state, m)
        verdicts.append(v)
        state = v.state
        if state.finished:
            break
    return verdicts


def test_a_healthy_canary_goes_10_25_50_and_is_promoted() -> None:
    verdicts = run([metrics()] * 10)
    assert [v.action for v in verdicts] == [A.ADVANCE, A.ADVANCE, A.PROMOTE]
    assert [v.state.weight for v in verdicts] == [25, 50, 100]


def test_a_healthy_canary_with_a_quiet_interval_and_a_blip_still_promotes() -> None:
    intervals = [metrics(), metrics(calls=3), metrics(errors_5xx=5), metrics(), metrics()]
    verdicts = run(intervals)
    actions = [v.action for v in verdicts]
    assert actions == [A.ADVANCE, A.INCONCLUSIVE, A.HOLD, A.ADVANCE, A.PROMOTE]


def test_a_canary_failing_30_percent_is_rolled_back_within_threshold_intervals() -> None:
    verdicts = run([metrics(calls=100, errors_5xx=30)] * 10)
    assert [v.action for v in verdicts] == [A.HOLD, A.HOLD, A.ROLLBACK]
    assert len(verdicts) == SETTINGS.threshold
    assert all(v.state.weight == 10 for v in verdicts[:-1])  # never advanced
    assert verdicts[-1].state.weight == 0


def test_a_canary_without_traffic_never_advances_and_rolls_back_after_its_budget() -> None:
    verdicts = run([metrics(calls=0, p99_ms=None)] * 10)
    assert [v.action for v in verdicts] == [A.INCONCLUSIVE, A.INCONCLUSIVE, A.ROLLBACK]
    assert len(verdicts) == SETTINGS.inconclusive_budget
    assert all(v.state.weight == 10 for v in verdicts[:-1])
    assert verdicts[-1].state.weight == 0


def test_nan_metrics_every_interval_never_promote() -> None:
    verdicts = run([metrics(calls=math.nan, p99_ms=math.nan)] * 10)
    assert verdicts[-1].action is A.ROLLBACK
    assert A.ADVANCE not in [v.action for v in verdicts]
