"""The soak's fault schedule: when each fault starts and ends, how it is injected, and what the
registry answered meanwhile.

Faults run one after another, evenly spaced over the run with quiet time before, between and
after them: kill -9 an agent process and, later, another agent's sidecar (the deployment
controller restarts both), kill -9 OPA (restarted after ``fault_s``, as a supervisor would),
stop the registry (SIGTERM, started again after ``registry_outage_s``) and stop PostgreSQL
(``pg_ctl stop -m fast``, started again after ``fault_s``)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from bench.soak_stack import Stack


@dataclass
class Fault:
    name: str
    down_s: float  # how long the fault lasts (0: an instant kill)
    affects: set[str]  # agent ids whose calls it can disturb (empty: none directly)
    start: float = 0.0  # seconds from the traffic start
    end: float = 0.0
    restart_s: float | None = None  # kill -> the controller's new process (agent/sidecar)
    detail: str = ""


@dataclass
class Plan:
    faults: list[Fault]
    grace_s: float  # a fault's window runs from its start to its end + grace

    def window(self, f: Fault) -> tuple[float, float]:
        return f.start, f.end + self.grace_s

    def fault_at(self, t: float) -> Fault | None:
        for f in self.faults:
            lo, hi = self.window(f)
            if lo <= t < hi:
                return f
        return None


def plan(
    duration: float, grace_s: float, fault_s: float, outage_s: float, agents: list[str],
    opa_agents: list[str],
) -> Plan:  # fmt: skip
    """The schedule: equal quiet gaps around the faults; refused when they do not fit."""
    victim, other = agents[0], agents[1 % len(agents)]
    faults = [
        Fault("kill -9 agent", 0.0, {victim}, detail=victim),
        Fault("kill -9 sidecar", 0.0, {other}, detail=other),
        Fault("kill -9 OPA", fault_s, set(opa_agents), detail=f"{len(opa_agents)} agents on OPA"),
        Fault("registry stopped", outage_s, set()),
        Fault("PostgreSQL stopped", fault_s, set()),
    ]
    gap = (duration - sum(f.down_s for f in faults)) / (len(faults) + 1)
    if gap < 2 * grace_s:
        need = sum(f.down_s for f in faults) + (len(faults) + 1) * 2 * grace_s
        raise ValueError(f"--duration too short for the faults: at least {need:.0f} s needed")
    t = gap
    for f in faults:
        f.start, f.end = t, t + f.down_s
        t = f.end + gap
    return Plan(faults, grace_s)


@dataclass
class Probe:
    """The registry seen from outside: GET /api/v1/audit?limit=1 (needs the database) each
    0.5 s. (time, status or None, Retry-After header)"""

    base: str
    token: str
    seen: list[tuple[float, int | None, str | None]] = field(default_factory=list)

    async def run(self, clock: Callable[[], float], until: float) -> None:
        timeout = aiohttp.ClientTimeout(total=5)
        headers = {"Authorization": f"Bearer {self.token}"}
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
            while (t := clock()) < until:
                try:
                    async with session.get(f"{self.base}/api/v1/audit?limit=1") as r:
                        await r.read()
                        self.seen.append((t, r.status, r.headers.get("Retry-After")))
                except Exception:  # down: no answer
                    self.seen.append((t, None, None))
                await asyncio.sleep(0.5)


async def inject(stack: Stack, f: Fault, opa_token: str) -> None:
    """Cause `f` now and undo it after its `down_s` (kills are undone by the controller)."""
    if f.name.startswith("kill -9 agent") or f.name.startswith("kill -9 sidecar"):
        role = "agent" if "agent" in f.name else "sidecar"
        f.restart_s = await _kill_and_wait(stack, f.detail, role)
    elif f.name == "kill -9 OPA":
        await asyncio.to_thread(stack.kill_opa)
        await asyncio.sleep(f.down_s)
        await asyncio.to_thread(stack.start_opa, opa_token)
    elif f.name == "registry stopped":
        await asyncio.to_thread(stack.stop_registry)
        await asyncio.sleep(f.down_s)
        await asyncio.to_thread(stack.start_registry)
    elif f.name == "PostgreSQL stopped":
        await asyncio.to_thread(stack.stop_postgres)
        await asyncio.sleep(f.down_s)
        await asyncio.to_thread(stack.resume_postgres)


async def _kill_and_wait(stack: Stack, agent_id: str, role: str, limit_s: float = 120) -> float:
    """SIGKILL the instance's `role` process; seconds until the controller runs a new one."""
    old = (await asyncio.to_thread(stack.instance_pids, agent_id)).get(role)
    if old is None:
        raise RuntimeError(f"no {role} process found for {agent_id}")
    os.kill(old, signal.SIGKILL)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit_s:
        new = (await asyncio.to_thread(stack.instance_pids, agent_id)).get(role)
        if new is not None and new != old:
            return time.perf_counter() - t0
        await asyncio.sleep(0.1)
    return float("inf")


async def run_schedule(stack: Stack, p: Plan, clock: Callable[[], float], opa_token: str) -> None:
    for f in p.faults:
        await asyncio.sleep(max(0.0, f.start - clock()))
        f.start = clock()
        await inject(stack, f, opa_token)
        f.end = max(clock(), f.start) if f.down_s else f.start  # restarts take their time
