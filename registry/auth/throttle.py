"""Failed-token throttling per client address: guessing tokens costs the guesser, not us.

Tokens are 256-bit random, so guessing one is hopeless; what a flood of wrong tokens does hurt
is the token lookup behind each attempt and the audit of who tried. After `limit` failures
within `window` seconds, one address gets 429 with `Retry-After` for every further attempt until
its failures age out of the window. A good token does not reset the count (a guesser holding one
valid token must not get unlimited tries). Counted per address as the socket sees it: behind a
reverse proxy that is the proxy, so put the limit there.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class FailedAuthThrottle:
    def __init__(
        self,
        limit: int = 20,
        window: float = 60.0,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window, self._clock = limit, window, clock
        self._max = max_addresses
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str) -> deque[float] | None:
        times = self._failures.get(address)
        if times is None:
            return None
        horizon = self._clock() - self.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        return times

    def retry_after(self, address: str) -> int | None:
        """Seconds until `address` may try again, or None when it may try now."""
        times = self._recent(address)
        if times is None or len(times) < self.limit:
            return None
        return max(1, math.ceil(times[-self.limit] + self.window - self._clock()))

    def failed(self, address: str) -> None:
        times = self._recent(address)
        if times is None:
            times = self._failures[address] = deque(maxlen=self.limit)
            while len(self._failures) > self._max:  # bounded memory: forget the oldest address
                self._failures.popitem(last=False)
        self._failures.move_to_end(address)
        times.append(self._clock())
