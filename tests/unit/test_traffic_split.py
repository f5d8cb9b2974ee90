"""The sidecar's canary split (sidecar/traffic_split.py): sticky per caller, random without a
caller id, exact at weights 0 and 100, and the measured share close to the weight."""

from __future__ import annotations

import random
from typing import Any

import pytest

from sidecar.traffic_split import bucket, choose

KEYS = [f"user-{i}" for i in range(2000)]


def share(weight: int, keys: list[str | None], rng: random.Random) -> float:
    picks = [choose(weight, key, rng) for key in keys]
    return picks.count("canary") / len(picks)


def test_a_caller_with_a_key_always_gets_the_same_version() -> None:
    rng = random.Random(1)
    for key in KEYS[:200]:
        first = choose(10, key, rng)
        assert all(choose(10, key, rng) == first for _ in range(20))


def test_stickiness_does_not_depend_on_the_rng() -> None:
    a = [choose(25, key, random.Random(1)) for key in KEYS]
    b = [choose(25, key, random.Random(2)) for key in KEYS]
    assert a == b


def test_the_bucket_is_a_fixed_function_of_the_key() -> None:
    # blake2b, not hash(): every process and every restart agrees (PYTHONHASHSEED is irrelevant)
    assert bucket("alice") == bucket("alice")
    assert {bucket(k) for k in KEYS} == set(range(100))
    assert bucket("alice") == 29  # pinned: a change here re-assigns every caller


def test_raising_the_weight_moves_callers_to_the_canary_and_never_back() -> None:
    rng = random.Random(0)
    at = {w: {k for k in KEYS if choose(w, k, rng) == "canary"} for w in (10, 25, 50)}
    assert at[10] < at[25] < at[50]


@pytest.mark.parametrize("key", [None, "", "user-1", "user-2"])
def test_weight_0_is_always_stable_and_100_always_canary(key: str | None) -> None:
    rng = random.Random(3)
    assert all(choose(0, key, rng) == "stable" for _ in range(200))
    assert all(choose(100, key, rng) == "canary" for _ in range(200))


def test_the_share_over_2000_distinct_callers_at_weight_10_is_8_to_12_percent() -> None:
    assert 0.08 <= share(10, list(KEYS), random.Random(0)) <= 0.12


def test_the_share_over_2000_anonymous_calls_at_weight_10_is_8_to_12_percent() -> None:
    assert 0.08 <= share(10, [None] * 2000, random.Random(7)) <= 0.12


def test_without_a_key_a_seeded_rng_makes_the_split_deterministic() -> None:
    def run(seed: int) -> list[str]:
        rng = random.Random(seed)
        return [choose(30, None, rng) for _ in range(500)]

    assert run(42) == run(42)
    assert run(42) != run(43)
    assert set(run(42)) == {"stable", "canary"}  # anonymous callers really are split


def test_an_empty_key_is_no_key() -> None:
    picks = {choose(50, "", random.Random(s)) for s in range(50)}
    assert picks == {"stable", "canary"}


def test_a_key_with_a_lone_surrogate_is_hashed_not_refused() -> None:
    assert choose(50, "\ud800user", random.Random(0)) in ("stable", "canary")


@pytest.mark.parametrize("weight", [-1, 101, 10.0, True, None, "10"])
def test_a_weight_outside_0_to_100_or_not_an_int_is_a_value_error(weight: Any) -> None:
    with pytest.raises(ValueError, match="canary weight"):
        choose(weight, "user-1", random.Random(0))
