"""Exact sliding-window token counter, in process: the measurement behind ``input.tokens.used``.

The budget itself lives in policy (token_budget.rego); this module only sums. Each key keeps a
deque of ``(timestamp, tokens)`` entries and their running total, so `used` is exact for the
window ``(now - window_s, now]`` and costs O(1) amortised (entries leave from the front).

Memory is bounded two ways, both erring towards counting more, never less:

* beyond ``max_per_key`` entries a new use is folded into the newest entry, which takes the new
  timestamp: those tokens stay in the window a little longer than their truth;
* beyond ``max_keys`` keys the least recently used key is dropped (that caller starts afresh:
  memory wins over exactness under a key flood, as in `sidecar.rate.SlidingWindowCounter`).

Not thread-safe; the sidecar calls it from its one event loop.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable

from sidecar.rate import KeyedWindow


class _Uses:
    __slots__ = ("entries", "total")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, int]] = deque()  # (timestamp, tokens), oldest first
        self.total = 0


class TokenWindowCounter(KeyedWindow[_Uses]):
    __slots__ = ()

    def _live(self, key: Hashable, now: float) -> _Uses | None:
        """The key's uses with those that left the window dropped; None (forgotten) if none."""
        uses = self._keys.get(key)
        if uses is None:
            return None
        cutoff, entries = now - self.window_s, uses.entries
        while entries and entries[0][0] <= cutoff:
            uses.total -= entries.popleft()[1]
        if not entries:
            del self._keys[key]
            return None
        return uses

    def used(self, key: Hashable) -> int:
        """Tokens recorded for ``key`` in ``(now - window_s, now]``."""
        uses = self._live(key, self._clock())
        return 0 if uses is None else uses.total

    def add(self, key: Hashable, tokens: int) -> None:
        """Record ``tokens`` (>= 0) used by ``key`` now; 0 records nothing."""
        if tokens < 0:
            raise ValueError("tokens must not be negative")
        if tokens == 0:
            return
        now = self._clock()
        uses = self._live(key, now)
        if uses is None:
            uses = self._keys[key] = _Uses()
            if len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(key)
        if len(uses.entries) >= self.max_per_key:
            uses.entries.append((now, uses.entries.pop()[1] + tokens))
        else:
            uses.entries.append((now, tokens))
        uses.total += tokens
        self._ops += 1
        if not self._ops & 63:  # idle-key sweep every 64 uses: amortised, off the hot path
            self.sweep(now)

    def sweep(self, now: float | None = None) -> None:
        """Forget keys whose newest use has left the window (keys are in last-use order)."""
        keys = self._keys
        cutoff = (self._clock() if now is None else now) - self.window_s
        while keys:
            oldest_key, uses = next(iter(keys.items()))
            if uses.entries and uses.entries[-1][0] > cutoff:
                break
            del keys[oldest_key]

    def retry_after(self, key: Hashable) -> int:
        """Whole seconds (>= 1) until the key's oldest tokens leave the window; 1 when none."""
        now = self._clock()
        uses = self._live(key, now)
        if uses is None:
            return 1
        return max(1, math.ceil(uses.entries[0][0] + self.window_s - now))
