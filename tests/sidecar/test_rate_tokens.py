"""Exact sliding-window token sums with an injected clock."""

from __future__ import annotations

import pytest

from sidecar.rate_tokens import TokenWindowCounter


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def counter(window: float = 60, **kwargs: int) -> tuple[TokenWindowCounter, Clock]:
    clock = Clock()
    return TokenWindowCounter(window, clock=clock, **kwargs), clock


def test_empty_key() -> None:
    c, _ = counter()
    assert c.used("nobody") == 0
    assert c.retry_after("nobody") == 1
    assert len(c) == 0


def test_sums_per_key() -> None:
    c, _ = counter()
    for tokens in (100, 250, 0, 7):
        c.add("alice", tokens)
    c.add("bob", 5)
    assert c.used("alice") == 357
    assert c.used("bob") == 5


def test_window_is_half_open_at_the_old_end() -> None:
    c, clock = counter(60)
    c.add("k", 40)  # t = 1000
    clock.now = 1030
    c.add("k", 2)
    clock.now = 1059.999
    assert c.used("k") == 42
    clock.now = 1060  # the 40 at 1000 are not in (1000, 1060]
    assert c.used("k") == 2
    clock.now = 1090
    assert c.used("k") == 0
    assert len(c) == 0  # the idle key is forgotten


def test_retry_after_is_when_the_oldest_tokens_leave() -> None:
    c, clock = counter(60)
    c.add("k", 10)
    clock.now = 1020.5
    c.add("k", 10)
    assert c.retry_after("k") == 40  # ceil(1060 - 1020.5)
    clock.now = 1060
    assert c.retry_after("k") == 21  # the second use leaves at 1080.5
    clock.now = 1080.2
    assert c.retry_after("k") == 1  # never less than 1


def test_zero_adds_nothing_and_negative_is_refused() -> None:
    c, _ = counter()
    c.add("k", 0)
    assert len(c) == 0
    with pytest.raises(ValueError):
        c.add("k", -1)


def test_entries_beyond_the_cap_fold_into_the_newest_and_never_undercount() -> None:
    c, clock = counter(60, max_per_key=3)
    for t in range(5):
        clock.now = 1000 + t
        c.add("k", 10)
    assert c.used("k") == 50  # nothing lost
    clock.now = 1061.5  # the uses at 1000 and 1001 left; the folded ones stay (newest: 1004)
    assert c.used("k") == 30
    clock.now = 1064
    assert c.used("k") == 0


def test_keys_beyond_the_cap_drop_the_least_recently_used() -> None:
    c, _ = counter(60, max_keys=2)
    c.add("a", 1)
    c.add("b", 1)
    c.add("a", 1)  # a is now the most recent
    c.add("c", 1)
    assert len(c) == 2
    assert (c.used("a"), c.used("b"), c.used("c")) == (2, 0, 1)


def test_sweep_forgets_idle_keys() -> None:
    c, clock = counter(10)
    for i in range(100):
        c.add(f"k{i}", 1)
    clock.now += 11
    c.add("fresh", 1)
    c.sweep()
    assert len(c) == 1


def test_clear() -> None:
    c, _ = counter()
    c.add("k", 5)
    c.clear()
    assert c.used("k") == 0


@pytest.mark.parametrize("bad", [0, -1])
def test_window_must_be_positive(bad: float) -> None:
    with pytest.raises(ValueError):
        TokenWindowCounter(bad)
