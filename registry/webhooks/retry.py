"""When a failed delivery is tried again: exponential backoff with jitter, up to a number of
attempts. The jitter spreads the retries of many deliveries that failed together (a receiver
that was down) so they do not all arrive at once when it comes back."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8  # then the delivery is given up
    base_delay: float = 10.0  # seconds before the second attempt (before jitter)
    max_delay: float = 3600.0  # cap of one wait
    timeout: float = 10.0  # per attempt: connect, send and the response headers
    poll_interval: float = 1.0  # how often an idle deliverer looks for due deliveries
    batch: int = 20  # deliveries claimed (and posted concurrently) per pass

    @property
    def lease(self) -> float:
        """How long a claimed delivery is hidden from other deliverers: well past one attempt,
        so only a deliverer that died mid-attempt lets it be claimed again."""
        return 2 * self.timeout + 30.0

    def delay(self, attempt: int, jitter: float) -> float:
        """Seconds to wait after failed attempt number `attempt` (from 1); `jitter` in [0, 1)
        picks a point in the upper half of the exponential step ("equal jitter")."""
        step = min(self.max_delay, self.base_delay * 2 ** min(attempt - 1, 62))
        return step / 2 + step / 2 * jitter

    def gives_up_after(self, attempt: int) -> bool:
        return attempt >= self.max_attempts
