"""Sliding-window counters in Redis, so every replica of an agent's sidecar counts together.

Each caller has one sorted set ``greenlang:rate:<agent>:<caller>`` of its admitted hits (score:
the Redis server's clock in ms, so replicas with skewed clocks agree; member: unique per
reservation). One Lua script per `take` drops the hits that left the window, counts the rest,
adds this one and renews the key's expiry, atomically: N replicas see 0, 1, 2, ... like one.

When Redis cannot be reached the call is refused (`RateStoreUnavailable`, a 503) unless a
``fallback`` counter is given (``--rate-store-fail-open``): then each replica counts on its own
until the store answers again. The client reconnects by itself on the next call; outages and
recoveries are logged once each and shown by ``on_state`` (the ``sidecar_rate_store_up`` gauge).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from sidecar.rate import SlidingWindowCounter
from sidecar.rate_port import RateStoreUnavailable

log = structlog.get_logger("sidecar")

# The Redis server's clock in ms (so replicas with skewed clocks agree) and ARGV[1], the window
# in ms: what every script starts with.
NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
"""

# KEYS[1] the caller's set; ARGV window ms, member, max hits kept. Returns the count before.
TAKE = (
    NOW_MS
    + """redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local before = redis.call('ZCARD', KEYS[1])
local cap = tonumber(ARGV[3])
if before >= cap then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, before - cap)
  before = cap - 1
end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], window)
return before
"""
)

# KEYS[1] the caller's set; ARGV window ms. Returns ms until its oldest hit leaves (0: none).
RETRY_AFTER = (
    NOW_MS
    + """redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #oldest == 0 then return 0 end
return tonumber(oldest[2]) + window - now
"""
)

FAILURES = (RedisError, OSError)


class SupportsClear(Protocol):
    def clear(self) -> None: ...


F = TypeVar("F", bound=SupportsClear)  # a store's in-process fallback counter


def redis_client(url: str, *, timeout_s: float = 1.0) -> Redis:
    """A client that gives up quickly (a call waits at most about two ``timeout_s``) and
    retries once, which reconnects a pooled connection the server closed while it restarted."""
    return Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=0,
    )


class RedisRateStore:
    def __init__(
        self,
        client: Redis,
        agent_id: str,
        window_s: float,
        *,
        fallback: SlidingWindowCounter | None = None,
        on_state: Callable[[bool], None] | None = None,
        max_per_key: int = 10_000,
    ) -> None:
        if not window_s > 0:
            raise ValueError("window_s must be positive")
        self.window_s = float(window_s)
        self._client = client
        self._prefix = f"greenlang:rate:{agent_id}:"
        self._window_ms = max(1, round(self.window_s * 1000))
        self._max = max_per_key
        self._nonce = secrets.token_hex(8)  # members of different replicas never collide
        self._take = client.register_script(TAKE)
        self._retry_after = client.register_script(RETRY_AFTER)
        self._fallback = fallback
        self._health = StoreHealth("calls", fallback, on_state)

    async def take(self, key: str, ticket: int = 0) -> int:
        args = (self._window_ms, self._member(ticket), self._max)
        try:
            before = await self._take(keys=[self._prefix + key], args=args)
        except FAILURES as exc:
            return self._health.unavailable(exc).take(key, ticket)
        self._health.up()
        return int(before)

    async def release(self, key: str, ticket: int = 0) -> None:
        """Remove the reservation; when the store is away it expires with the window instead."""
        try:
            await self._client.zrem(self._prefix + key, self._member(ticket))
        except FAILURES as exc:
            self._health.down(exc)
            if self._fallback is not None:
                self._fallback.release(key, ticket)

    async def retry_after(self, key: str) -> int:
        try:
            ms = await self._retry_after(keys=[self._prefix + key], args=[self._window_ms])
        except FAILURES as exc:
            self._health.down(exc)
            return max(1, math.ceil(self.window_s))  # the longest it can be
        return max(1, math.ceil(float(ms) / 1000))

    async def close(self) -> None:
        await self._client.aclose()

    def _member(self, ticket: int) -> str:
        return f"{self._nonce}:{ticket}"


class StoreHealth(Generic[F]):
    """A shared store's state: each outage and recovery logged once and shown by ``on_state``
    (the ``sidecar_rate_store_up`` gauge); on recovery the fallback counter is cleared, since
    the store's counts are the truth again."""

    def __init__(
        self,
        counter: str,
        fallback: F | None,
        on_state: Callable[[bool], None] | None,
    ) -> None:
        self._counter, self._fallback, self._on_state = counter, fallback, on_state
        self.is_up = True

    def down(self, exc: BaseException) -> None:
        if self.is_up:
            self.is_up = False
            mode = "in-process counting" if self._fallback is not None else "calls refused"
            log.warning(
                "rate_store_unavailable", counter=self._counter, error=reason(exc), mode=mode
            )
            if self._on_state is not None:
                self._on_state(False)

    def unavailable(self, exc: BaseException) -> F:
        """The fallback counter to count in instead, or `RateStoreUnavailable` when failing
        closed."""
        self.down(exc)
        if self._fallback is None:
            raise RateStoreUnavailable(f"the rate store cannot be reached: {reason(exc)}")
        return self._fallback

    def up(self) -> None:
        if not self.is_up:
            self.is_up = True
            log.info("rate_store_recovered", counter=self._counter)
            if self._fallback is not None:
                self._fallback.clear()
            if self._on_state is not None:
                self._on_state(True)


def reason(exc: BaseException) -> str:
    """An exception as one short line for a log or a problem detail."""
    return str(exc) or type(exc).__name__
