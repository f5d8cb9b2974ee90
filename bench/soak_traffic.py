"""The soak's callers: open-loop mixed traffic over every deployed agent's sidecar.

Call i is scheduled at start + i / rate whatever the sidecars do (no coordinated omission) and
its latency counts from that time. Each call is one of three kinds, drawn from a seeded RNG:

* ``ok``: an operator among 50 callers (spread over the rate limits) -> 200 expected, or the
  policy's 429 should a caller exceed its limit;
* ``badtoken``: a JWT signed with another secret -> the sidecar's 401 expected;
* ``denied``: a caller with no role outside the agent's owner team -> the policy's 403
  (rbac-access-control) expected.

Every call carries ``X-Request-ID: soak-<i>``, the id its audit event is stored under."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

import aiohttp

from bench.fleet_registry import caller_token

EXPECTED = {"ok": {200, 429}, "badtoken": {401}, "denied": {403}}
WEIGHTS = {"ok": 0.94, "badtoken": 0.03, "denied": 0.03}


@dataclass
class Target:
    agent_id: str
    url: str  # the sidecar's /v1/run
    body: bytes


@dataclass
class Sample:
    n: int
    at: float  # scheduled send time, seconds from the traffic start
    agent_id: str
    kind: str
    status: int | None  # None: no HTTP answer (connection error, timeout)
    error: str | None
    latency: float  # seconds from the scheduled time to the answer (or the failure)

    @property
    def request_id(self) -> str:
        return f"soak-{self.n:07d}"

    @property
    def answered(self) -> bool:
        """The sidecar answered: it audits every call it answers."""
        return self.status is not None

    @property
    def available(self) -> bool:
        return self.status in EXPECTED[self.kind]


class Traffic:
    def __init__(self, targets: list[Target], secret: bytes, rate: float, seed: int) -> None:
        self.targets, self.rate = targets, rate
        self.rng = random.Random(seed)
        self.tokens = {
            "ok": [caller_token(secret, f"soak-user-{i}") for i in range(50)],
            "badtoken": [caller_token(b"not-the-secret-" * 3, "mallory")],
            "denied": [caller_token(secret, "soak-outsider", roles=())],
        }
        self.samples: list[Sample] = []
        self.t0 = 0.0
        self.timeout_s = 10.0

    def now(self) -> float:
        return time.perf_counter() - self.t0

    async def run(self, duration: float) -> None:
        """Send every scheduled call of `duration` seconds from `t0` (set it first, so the
        fault schedule shares the clock); return when all have answered."""
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            pending: set[asyncio.Task[None]] = set()
            total = int(duration * self.rate)
            kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
            for n in range(total):
                at = n / self.rate
                await asyncio.sleep(max(0.0, at - self.now()))
                kind = self.rng.choices(kinds, weights)[0]
                target = self.targets[n % len(self.targets)]
                task = asyncio.create_task(self._call(session, n, at, kind, target))
                pending.add(task)
                task.add_done_callback(pending.discard)
            await asyncio.gather(*list(pending))

    async def _call(
        self, session: aiohttp.ClientSession, n: int, at: float, kind: str, target: Target
    ) -> None:
        token = self.rng.choice(self.tokens[kind])
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "X-Request-ID": f"soak-{n:07d}",
        }
        status, error = None, None
        try:
            async with session.post(target.url, data=target.body, headers=headers) as r:
                await r.read()
                status = r.status
        except Exception as exc:  # counted: the caller got no answer
            error = type(exc).__name__
        self.samples.append(Sample(n, at, target.agent_id, kind, status, error, self.now() - at))
