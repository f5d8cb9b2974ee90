"""Exact sliding-window hit counter, the measurement behind ``input.rate.current``.

The limit itself lives in policy; this module only counts. Each key (e.g. ``(user, agent)``)
keeps a deque of the monotonic timestamps of its admitted hits, so ``count`` is exact for the
window ``(now - window_s, now]`` — no fixed-window burst at a boundary, no approximation.

Memory is bounded two ways:

* keys are kept in least-recently-hit order, so idle ones (newest hit outside the window)
  gather at the front, where a sweep every 64 hits drops them (``count`` and ``retry_after``
  also drop an idle key they meet); beyond ``max_keys`` the least recently hit key is dropped
  even if still active (that caller starts a fresh window: memory wins over exactness under a
  key flood);
* a key keeps at most ``max_per_key`` timestamps; beyond that the oldest is discarded, so
  ``count`` saturates at ``max_per_key`` (limits up to it are enforced exactly; a higher count
  is never reported) and ``retry_after`` may come out longer than the truth.

Worst case: ``max_keys * max_per_key`` timestamps (about 32 bytes each). Not thread-safe; the
sidecar calls it from its one event loop.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class KeyedWindow(Generic[V]):
    """What both in-process window counters keep (this one and `sidecar.rate_tokens`): per-key
    values in least-recently-used order, bounded in keys and in entries per key."""

    __slots__ = ("_clock", "_keys", "_ops", "max_keys", "max_per_key", "window_s")

    def __init__(
        self,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
        max_per_key: int = 10_000,
    ) -> None:
        if not window_s > 0:
            raise ValueError("window_s must be positive")
        if max_keys < 1 or max_per_key < 1:
            raise ValueError("max_keys and max_per_key must be at least 1")
        self.window_s = float(window_s)
        self.max_keys = max_keys
        self.max_per_key = max_per_key
        self._clock = clock
        self._keys: OrderedDict[Hashable, V] = OrderedDict()
        self._ops = 0

    def clear(self) -> None:
        self._keys.clear()
        self._ops = 0

    def __len__(self) -> int:
        """Keys currently tracked (active or not yet swept)."""
        return len(self._keys)


class SlidingWindowCounter(KeyedWindow[deque[float]]):
    __slots__ = ()

    def _live(self, key: Hashable, now: float) -> deque[float] | None:
        """The key's hits still inside the window, or None (and the key forgotten) if none."""
        hits = self._keys.get(key)
        if hits is None:
            return None
        cutoff = now - self.window_s
        while hits and hits[0] <= cutoff:
            hits.popleft()
        if not hits:
            del self._keys[key]
            return None
        return hits

    def count(self, key: Hashable) -> int:
        """Admitted hits for ``key`` in ``(now - window_s, now]``."""
        hits = self._keys.get(key)
        if hits is None:
            return 0
        now = self._clock()
        if hits[0] > now - self.window_s:  # the common case: nothing has left the window
            return len(hits)
        return len(self._live(key, now) or ())

    def hit(self, key: Hashable) -> None:
        """Record one admitted hit for ``key`` now."""
        now = self._clock()
        keys = self._keys
        hits = keys.get(key)
        if hits is None:
            keys[key] = deque((now,), self.max_per_key)
            if len(keys) > self.max_keys:
                keys.popitem(last=False)
        else:
            keys.move_to_end(key)
            hits.append(now)
        self._ops += 1
        if not self._ops & 63:  # idle-key sweep every 64 hits: amortised, off the hot path
            self.sweep(now)

    def take(self, key: Hashable, ticket: int = 0) -> int:
        """Record a hit and return the count before it, in one step (``ticket`` is unused).

        The caller reserves its place before awaiting a decision, so concurrent calls of one
        caller see 0, 1, 2, ... instead of all seeing the same count; `release` gives the
        place back when the call is not admitted."""
        before = self.count(key)
        self.hit(key)
        return before

    def release(self, key: Hashable, ticket: int = 0) -> None:
        """Undo the newest hit of ``key`` (a reservation whose call was refused); in one process
        that is as good as undoing the call's own hit, so ``ticket`` is unused."""
        hits = self._keys.get(key)
        if hits:
            hits.pop()
            if not hits:
                del self._keys[key]

    def sweep(self, now: float | None = None) -> None:
        """Forget keys whose newest hit has left the window (``hit`` does this every 64 calls).

        Keys are in last-hit order, so the idle ones are all at the front: the cost is one
        step per key dropped, plus one."""
        keys = self._keys
        cutoff = (self._clock() if now is None else now) - self.window_s
        while keys:
            oldest_key, hits = next(iter(keys.items()))
            if hits[-1] > cutoff:
                break
            del keys[oldest_key]

    def retry_after(self, key: Hashable) -> int:
        """Whole seconds (>= 1) until the key's oldest hit leaves the window; 1 when none."""
        now = self._clock()
        hits = self._live(key, now)
        if hits is None:
            return 1
        return max(1, math.ceil(hits[0] + self.window_s - now))
