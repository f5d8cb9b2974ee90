"""Token use per caller in Redis, so every replica of an agent's sidecar sums together.

Each caller has one hash ``greenlang:tokens:<agent>:<caller>`` of sub-buckets: field = the
bucket's index (the Redis server's clock in ms // bucket width, so replicas with skewed clocks
agree), value = tokens used in it. The window is cut into ``BUCKETS`` of them; a bucket counts
while any part of it is inside the window, so tokens are counted for between ``window_s`` and
``window_s`` + one bucket (1 s of a 60 s window): never less than their truth. Each operation
is one Lua script (atomic): `used` drops the buckets that left and sums the rest, `add`
increments the current bucket and renews the key's expiry.

Outages follow `sidecar.rate_redis`: with no ``fallback`` counter `used` raises
`RateStoreUnavailable` (the call is refused, 503); with one (``--rate-store-fail-open``) each
replica sums on its own until the store answers again. `add` never raises: the call it counts
was already answered, so tokens used while the store is away are lost to it (with a fallback
they go there).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from redis.asyncio import Redis

from sidecar.rate_redis import FAILURES, NOW_MS, StoreHealth
from sidecar.rate_tokens import TokenWindowCounter

BUCKETS = 60

_NOW = NOW_MS + "local width = tonumber(ARGV[2])\n"

# KEYS[1] the caller's hash; ARGV window ms, bucket ms. Returns the tokens in the window, and
# ms until its oldest bucket leaves it (0: none).
USED = (
    _NOW
    + """
local cutoff = now - window
local fields = redis.call('HGETALL', KEYS[1])
local total, oldest = 0, nil
for i = 1, #fields, 2 do
  local b = tonumber(fields[i])
  if (b + 1) * width > cutoff then
    total = total + tonumber(fields[i + 1])
    if oldest == nil or b < oldest then oldest = b end
  else
    redis.call('HDEL', KEYS[1], fields[i])
  end
end
if oldest == nil then return {0, 0} end
return {total, (oldest + 1) * width - cutoff}
"""
)

# KEYS[1] the caller's hash; ARGV window ms, bucket ms, tokens.
ADD = (
    _NOW
    + """
local b = string.format('%d', math.floor(now / width))
redis.call('HINCRBY', KEYS[1], b, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window + width)
return 0
"""
)


class RedisTokenStore:
    def __init__(
        self,
        client: Redis,
        agent_id: str,
        window_s: float,
        *,
        fallback: TokenWindowCounter | None = None,
        on_state: Callable[[bool], None] | None = None,
    ) -> None:
        if not window_s > 0:
            raise ValueError("window_s must be positive")
        self.window_s = float(window_s)
        self._client = client
        self._prefix = f"greenlang:tokens:{agent_id}:"
        self._window_ms = max(1, round(self.window_s * 1000))
        self._width_ms = max(1, self._window_ms // BUCKETS)
        self._used = client.register_script(USED)
        self._add = client.register_script(ADD)
        self._fallback = fallback
        self._health = StoreHealth("tokens", fallback, on_state)

    async def _read(self, key: str) -> tuple[int, int]:
        """(tokens in the window, ms until the oldest bucket leaves); raises on an outage."""
        total, ms = await self._used(keys=[self._prefix + key], args=self._args())
        self._health.up()
        return int(total), int(ms)

    async def used(self, key: str) -> int:
        try:
            return (await self._read(key))[0]
        except FAILURES as exc:
            return self._health.unavailable(exc).used(key)

    async def add(self, key: str, tokens: int) -> None:
        if tokens < 0:
            raise ValueError("tokens must not be negative")
        if tokens == 0:
            return
        try:
            await self._add(keys=[self._prefix + key], args=[*self._args(), tokens])
        except FAILURES as exc:
            self._health.down(exc)
            if self._fallback is not None:
                self._fallback.add(key, tokens)
            return
        self._health.up()

    async def retry_after(self, key: str) -> int:
        try:
            ms = (await self._read(key))[1]
        except FAILURES as exc:
            self._health.down(exc)
            return max(1, math.ceil(self.window_s + self._width_ms / 1000))  # the longest
        return max(1, math.ceil(ms / 1000))

    async def close(self) -> None:
        await self._client.aclose()

    def _args(self) -> list[int]:
        return [self._window_ms, self._width_ms]
