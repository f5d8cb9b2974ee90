"""Exact sliding-window counting with an injected clock."""

from __future__ import annotations

import pytest

from sidecar.rate import SlidingWindowCounter


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def counter(window: float = 60, **kwargs: int) -> tuple[SlidingWindowCounter, Clock]:
    clock = Clock()
    return SlidingWindowCounter(window, clock=clock, **kwargs), clock


def test_empty_key() -> None:
    c, _ = counter()
    assert c.count("nobody") == 0
    assert c.retry_after("nobody") == 1
    assert len(c) == 0


def test_window_is_half_open_at_the_old_end() -> None:
    c, clock = counter(60)
    c.hit("k")  # t = 1000
    assert c.count("k") == 1
    clock.now = 1059.999
    assert c.count("k") == 1
    clock.now = 1060  # the hit at 1000 is not in (1000, 1060]
    assert c.count("k") == 0
    assert len(c) == 0  # the idle key is forgotten


def test_hits_slide_out_one_by_one() -> None:
    c, clock = counter(10)
    for t in (0, 1, 2, 5, 9):
        clock.now = 1000 + t
        c.hit("k")
    assert c.count("k") == 5
    expected: dict[float, int] = {10: 4, 11: 3, 12: 2, 14.9: 2, 15: 1, 19: 0}
    for at, n in expected.items():
        clock.now = 1000 + at
        assert c.count("k") == n, at


def test_count_excludes_the_call_being_decided() -> None:
    # The pipeline asks count() before the decision and hit()s only admitted calls.
    c, clock = counter(60)
    seen = []
    for i in range(5):
        clock.now = 1000 + i
        seen.append(c.count(("alice", "agent")))
        c.hit(("alice", "agent"))
    assert seen == [0, 1, 2, 3, 4]


def test_keys_are_independent() -> None:
    c, _ = counter()
    c.hit(("alice", "a"))
    c.hit(("alice", "a"))
    c.hit(("bob", "a"))
    assert c.count(("alice", "a")) == 2
    assert c.count(("bob", "a")) == 1
    assert c.count(("alice", "b")) == 0


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    c, clock = counter(60)
    c.hit("k")  # 1000
    clock.now = 1010
    c.hit("k")
    assert c.retry_after("k") == 50  # the oldest leaves at 1060
    clock.now = 1010.2
    assert c.retry_after("k") == 50  # 49.8 -> 50
    clock.now = 1059.5
    assert c.retry_after("k") == 1  # 0.5 -> 1
    clock.now = 1060  # oldest gone; next leaves at 1070
    assert c.retry_after("k") == 10
    clock.now = 1069.99
    assert c.retry_after("k") == 1
    clock.now = 1070
    assert c.retry_after("k") == 1
    assert c.count("k") == 0


def test_sub_second_window_retry_after_is_at_least_one() -> None:
    c, clock = counter(0.5)
    c.hit("k")
    clock.now += 0.1
    assert c.retry_after("k") == 1


def test_idle_keys_are_swept() -> None:
    c, clock = counter(10)
    for i in range(100):
        c.hit(f"user-{i}")
    assert len(c) == 100
    clock.now += 5
    c.hit("fresh")
    c.sweep()
    assert len(c) == 101  # all still inside the window
    clock.now += 5  # the first 100 have left the window
    c.hit("fresh")
    c.sweep()
    assert len(c) == 1
    assert c.count("fresh") == 2


def test_hits_sweep_idle_keys_on_their_own() -> None:
    c, clock = counter(10)
    for i in range(1000):
        c.hit(f"old-{i}")
    clock.now += 10
    for _ in range(64):
        c.hit("busy")
    assert len(c) == 1


def test_recently_hit_key_is_not_swept_behind_idle_ones() -> None:
    c, clock = counter(10)
    c.hit("a")
    c.hit("b")
    clock.now += 6
    c.hit("a")  # "a" moves behind "b"
    clock.now += 5  # the first hits of a and b have left the window
    c.hit("c")
    c.sweep()
    assert len(c) == 2
    assert c.count("a") == 1
    assert c.count("b") == 0


def test_max_keys_evicts_least_recently_hit() -> None:
    c, clock = counter(60, max_keys=3)
    for key in ("a", "b", "c"):
        c.hit(key)
        clock.now += 1
    c.hit("a")  # order now b, c, a
    c.hit("d")  # over the cap: b goes, although still inside its window
    assert len(c) == 3
    assert c.count("b") == 0
    assert c.count("a") == 2
    assert c.count("c") == 1
    assert c.count("d") == 1


def test_per_key_cap_saturates_the_count() -> None:
    c, clock = counter(60, max_per_key=5)
    for _ in range(8):
        c.hit("k")
        clock.now += 1
    assert c.count("k") == 5  # the 3 oldest timestamps were discarded
    # The oldest kept hit is at 1003: it leaves at 1063, now is 1008.
    assert c.retry_after("k") == 55


def test_count_forgets_an_idle_key() -> None:
    c, clock = counter(10)
    c.hit("a")
    clock.now += 11
    assert c.count("a") == 0
    c.hit("b")
    assert len(c) == 1


def test_default_clock_is_monotonic() -> None:
    c = SlidingWindowCounter(60)
    c.hit("k")
    assert c.count("k") == 1
    c.clear()
    assert c.count("k") == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window_s": 0},
        {"window_s": -1},
        {"window_s": 1, "max_keys": 0},
        {"window_s": 1, "max_per_key": 0},
    ],
)
def test_bad_arguments(kwargs: dict[str, float]) -> None:
    window = kwargs.pop("window_s")
    with pytest.raises(ValueError):
        SlidingWindowCounter(window, **kwargs)  # type: ignore[arg-type]


def test_take_reserves_and_release_gives_back() -> None:
    now = [100.0]
    counter = SlidingWindowCounter(60, clock=lambda: now[0])
    assert [counter.take("a") for _ in range(3)] == [0, 1, 2]
    counter.release("a")
    assert counter.count("a") == 2
    counter.release("a")
    counter.release("a")
    counter.release("a")  # nothing left: a no-op
    assert counter.count("a") == 0 and len(counter) == 0
