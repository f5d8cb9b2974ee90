"""Concurrent loads of one key share one load ("single flight").

When a popular cached search expires, every client asking for it at that moment would
otherwise run the same expensive query at once; with this, one runs it and the rest wait for
its answer (or, in the service, get the previous answer while it runs)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._flights: dict[K, asyncio.Future[V]] = {}

    def pending(self, key: K) -> bool:
        """A load of `key` is running."""
        return key in self._flights

    async def run(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """`load()`'s value, shared with every call for `key` made while it runs. A load whose
        caller went away (cancelled) is started again by the next waiter."""
        flight = self._flights.get(key)
        if flight is not None:
            try:
                return await asyncio.shield(flight)
            except asyncio.CancelledError:
                if flight.cancelled():  # the leader was cancelled, not this caller
                    return await self.run(key, load)
                raise
        flight = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        try:
            value = await load()
        except Exception as exc:
            flight.set_exception(exc)
            flight.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        except BaseException:
            flight.cancel()
            raise
        else:
            flight.set_result(value)
            return value
        finally:
            del self._flights[key]
