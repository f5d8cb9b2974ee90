"""The failed-token throttle: blocks an address after `limit` failures in `window`, lets it try
again as they age out, and keeps memory bounded."""

from __future__ import annotations

from registry.auth.throttle import FailedAuthThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_blocks_after_the_limit_and_recovers_as_failures_age_out() -> None:
    clock = Clock()
    throttle = FailedAuthThrottle(limit=3, window=10.0, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("10.0.0.1") is None
        throttle.failed("10.0.0.1")
        clock.now += 1
    assert throttle.retry_after("10.0.0.1") == 7  # the first failure (t=0) leaves at t=10
    assert throttle.retry_after("10.0.0.2") is None  # per address
    clock.now = 10.0
    assert throttle.retry_after("10.0.0.1") is None


def test_memory_is_bounded_by_forgetting_the_oldest_address() -> None:
    throttle = FailedAuthThrottle(limit=1, window=60.0, max_addresses=2, clock=Clock())
    for address in ("a", "b", "c"):
        throttle.failed(address)
    assert throttle.retry_after("a") is None  # forgotten
    assert throttle.retry_after("b") is not None and throttle.retry_after("c") is not None
