"""Soak run: N agents deployed through a real registry carry steady mixed traffic for a while
(default 10 minutes) through their sidecars while faults are injected one after another.

    python bench/soak.py                                            # 10 min, 8 agents, 50 calls/s
    python bench/soak.py --duration 90 --agents 4 --registry-outage-s 20   # smoke run, ~3 min

Set-up: an embedded PostgreSQL and `greenlang-registry serve --seed examples/agents --deployer
process` in a temp dir; an OPA (`opa run --server`) that polls the registry's `greenlang`
bundle. A quarter of the agents (at least one) are deployed to `staging`, whose sidecars the
registry points at that OPA (GREENLANG_SIDECAR_ENGINE=staging=<OPA URL>, what an operator with
one OPA per environment sets); the others to `production` with the embedded engine. Callers:
bench/soak_traffic.py (open loop, `--rate` calls/s spread over the agents, 6% of them
unauthenticated or denied). Faults: bench/soak_faults.py. Figures: bench/soak_report.py.

Available, as a caller sees it: a call is available when it got a *decided* answer, the one
its kind calls for: 200 from the agent for an authorised call; the sidecar's 401 for a bad
token; the policy's 403 for a caller the policy denies; a policy 429 for a caller over its
rate limit. Anything else is unavailable:
a 5xx (502/503/504 included, even a correct fail-closed 503), a connection error, no answer
within 10 s, or an unexpected status. A call belongs to a fault's window when it was scheduled
between the fault's start and its end + `--grace` seconds (a kill ends at once; a stopped server
ends when it is back up); the rest is "outside fault windows", where the target is >= 99.9%.

Audit: every call a sidecar answered (any HTTP status) must have exactly one stored event with
its request id (`X-Request-ID: soak-<n>`), checked in PostgreSQL after the traffic, and
`greenlang-registry audit verify` must pass. Exit status 1 when a target is missed."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.registry_setup import tail
from bench.scale_bench import wait_seeded
from bench.scale_fleet import Api, Deployed, FleetError, deploy_one, example_agents
from bench.soak_faults import Plan, Probe, plan, run_schedule
from bench.soak_report import Audit, report
from bench.soak_stack import OPA_ENVIRONMENT, Stack, remove
from bench.soak_traffic import Sample, Target, Traffic


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=float, default=600.0, help="seconds of traffic")
    p.add_argument("--agents", type=int, default=8, help="example agents to deploy (>= 2)")
    p.add_argument("--rate", type=float, default=50.0, help="calls/s over all agents")
    p.add_argument("--registry-outage-s", type=float, default=300.0)
    p.add_argument("--fault-s", type=float, help="OPA and PostgreSQL down time (default: "
                   "duration/20, at most 30)")  # fmt: skip
    p.add_argument("--grace", type=float, help="seconds after a fault's end still in its window "
                   "(default: duration/60 between 3 and 10)")  # fmt: skip
    p.add_argument("--seed", type=int, default=14, help="the traffic mix's RNG seed")
    p.add_argument("--drain-limit", type=float, default=300.0, help="seconds to wait for every "
                   "audit event to be stored after the traffic")  # fmt: skip
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    args = p.parse_args(argv)
    if args.agents < 2:
        p.error("--agents must be at least 2")
    if args.fault_s is None:
        args.fault_s = min(30.0, args.duration / 20)
    if args.grace is None:
        args.grace = min(10.0, max(3.0, args.duration / 60))
    return args


async def deploy(api: Api, agents: list[tuple[str, bytes]], n_opa: int) -> list[Deployed]:
    gate = asyncio.Semaphore(4)

    async def one(i: int, agent_id: str, body: bytes) -> Deployed:
        environment = OPA_ENVIRONMENT if i < n_opa else "production"
        async with gate:
            return await deploy_one(api, agent_id, body, 300, environment)

    return list(await asyncio.gather(*(one(i, a, b) for i, (a, b) in enumerate(agents))))


async def audit_check(stack: Stack, samples: list[Sample], limit_s: float) -> Audit:
    """Wait until every answered call's event is stored (or `limit_s`), then audit verify."""
    want = {s.request_id for s in samples if s.answered}
    t0 = time.perf_counter()
    counts: dict[str, int] = {}
    while True:
        conn = await asyncpg.connect(stack.env["GREENLANG_DATABASE_URL"])
        try:
            got = await conn.fetch(
                "SELECT request_id, count(*) AS n FROM audit_events"
                " WHERE request_id LIKE 'soak-%' GROUP BY request_id"
            )
        finally:
            await conn.close()
        counts = {r["request_id"]: r["n"] for r in got}
        if want <= counts.keys() or time.perf_counter() - t0 > limit_s:
            break
        await asyncio.sleep(2)
    drain = time.perf_counter() - t0
    rc, out = await asyncio.to_thread(stack.audit_verify)
    lost = sorted(want - counts.keys())
    dups = sum(1 for n in counts.values() if n > 1)
    return Audit(len(want), len(want) - len(lost), lost, dups, rc, out, drain)


async def scenario(args: argparse.Namespace, stack: Stack) -> int:
    agents = example_agents(args.agents)
    n_opa = max(1, len(agents) // 4)
    await asyncio.to_thread(stack.start_postgres)
    admin = stack.token("soak-admin", "admin")
    approver = stack.token("soak-approver", "approver")
    opa_token = stack.token("soak-opa", "service")
    await asyncio.to_thread(stack.start_registry)
    await asyncio.to_thread(stack.start_opa, opa_token)
    async with Api(stack.base, admin, approver) as api:
        await wait_seeded(api, [a for a, _ in agents], 300)
        fleet = await deploy(api, agents, n_opa)
    targets = [Target(d.agent_id, d.endpoint + "/v1/run", d.body) for d in fleet]
    ids = [d.agent_id for d in fleet]
    p: Plan = plan(args.duration, args.grace, args.fault_s, args.registry_outage_s,
                   ids[n_opa:], ids[:n_opa])  # fmt: skip
    print(f"deployed {len(fleet)} agents ({n_opa} on OPA); traffic {args.rate}/s for "
          f"{args.duration:.0f} s; faults at " + ", ".join(
              f"{f.start:.0f} s {f.name}" for f in p.faults), flush=True)  # fmt: skip
    traffic = Traffic(targets, stack.secret, args.rate, args.seed)
    probe = Probe(stack.base, admin)
    traffic.t0 = time.perf_counter()
    await asyncio.gather(
        traffic.run(args.duration),
        run_schedule(stack, p, traffic.now, opa_token),
        probe.run(traffic.now, args.duration),
    )
    audit = await audit_check(stack, traffic.samples, args.drain_limit)
    header = (
        f"Soak: {len(fleet)} agents ({n_opa} on OPA), {args.rate:.0f} calls/s, "
        f"{args.duration:.0f} s, registry outage {args.registry_outage_s:.0f} s, "
        f"{os.cpu_count()} cores"
    )
    return 0 if report(traffic.samples, p, probe, audit, header) else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="gl-soak-"))
    stack = Stack(root)
    try:
        return asyncio.run(scenario(args, stack))
    except (FleetError, RuntimeError, ValueError) as exc:
        print(f"soak run failed: {exc}\n{tail(root / f'registry-{stack.restarts - 1}.log')}",
              file=sys.stderr)  # fmt: skip
        return 1
    finally:
        stack.close()
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            remove(root)


if __name__ == "__main__":
    raise SystemExit(main())
