"""Scale run: 50+ example agents deployed through the registry with the `process` deployer, each
behind its own sidecar with the stock policies enforced, then driven together.

    python bench/scale_bench.py                 # 55 agents, ~3 min on 2 cores
    python bench/scale_bench.py --agents 8 --duration 5   # smoke run

Steps: a registry (`greenlang-registry serve --seed examples/agents --deployer process`, embedded
PostgreSQL) in a temp dir; every agent certified, promoted to production by one principal and
approved by another (the stock policies want both), followed to ready; closed-loop calls over all
agents straight to the agent hosts (the baseline) and then through their sidecars; the memory of
every agent + sidecar pair; some versions retired with --undeploy and their old endpoints called
(no call may succeed); everything undeployed and the registry stopped, with no process left.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fleet_registry import FleetRegistry, caller_token
from bench.loadgen import LoadResult, LoadSpec, nearest_rank, run_load
from bench.registry_setup import tail
from bench.scale_fleet import (
    Api,
    Deployed,
    FleetError,
    Pair,
    example_agents,
    instance_pairs,
    leftover_processes,
    wait_status,
)
from bench.scale_fleet import deploy_fleet as deploy_all

MB = 1024 * 1024


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--agents", type=int, default=55, help="example agents to deploy")
    p.add_argument("--parallel", type=int, default=8, help="promotions in flight at once")
    p.add_argument("--concurrency", type=int, default=32, help="closed-loop clients")
    p.add_argument("--client-procs", type=int, default=1)
    p.add_argument("--duration", type=float, default=15.0, help="measured seconds per phase")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--retire", type=int, default=5, help="versions retired with --undeploy")
    p.add_argument("--deploy-timeout", type=float, default=300.0)
    p.add_argument("--keep", action="store_true", help="keep the temp dir")
    return p.parse_args(argv)


def row(name: str, r: LoadResult) -> str:
    return (
        f"| {name} | {r.throughput:.0f} | {r.p50 * 1000:.1f} | {r.p99 * 1000:.1f} "
        f"| {r.failed} | {dict(r.statuses)} |"
    )


class Run(FleetRegistry):
    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        super().__init__(root)
        self.args = args


async def wait_seeded(api: Api, agent_ids: list[str], limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    for agent_id in agent_ids:
        while (await api.call("GET", f"/api/v1/agents/{agent_id}"))[0] != 200:
            if time.monotonic() > deadline:
                raise FleetError(f"{agent_id} was not seeded within {limit_s:.0f}s")
            await asyncio.sleep(0.2)


def load(args: argparse.Namespace, targets: list[tuple[str, bytes]], token: str) -> LoadResult:
    headers = (("Authorization", f"Bearer {token}"), ("Content-Type", "application/json"))
    spec = LoadSpec(
        url="",
        method="POST",
        headers=headers,
        targets=tuple(targets),
        concurrency=args.concurrency,
        processes=args.client_procs,
        duration=args.duration,
        warmup=args.warmup,
    )
    return run_load(spec)


async def retire_and_probe(api: Api, fleet: list[Deployed], token: str) -> tuple[int, int]:
    """Retire each version with --undeploy, then call its old endpoint: (calls, successes)."""
    for d in fleet:
        await api.must(
            "POST",
            f"/api/v1/agents/{d.agent_id}/versions/{d.version}/retire",
            {"reason": "scale run", "undeploy": True},
        )
    for d in fleet:
        await wait_status(api, d.deployment_id, {"stopped"}, 120)
    calls = ok = 0
    headers = {"Authorization": f"Bearer {token}"}
    for d in fleet:
        for _ in range(10):
            calls += 1
            try:
                async with api.session.post(
                    d.endpoint + "/v1/run", data=d.body, headers=headers
                ) as r:
                    ok += r.status < 400
            except Exception:  # refused: nothing listens there any more
                pass
    return calls, ok


async def undeploy_rest(api: Api, fleet: list[Deployed]) -> None:
    for d in fleet:
        await api.must("DELETE", f"/api/v1/deployments/{d.deployment_id}")
    for d in fleet:
        await wait_status(api, d.deployment_id, {"stopped"}, 120)


async def scenario(run: Run) -> int:
    args = run.args
    agents = example_agents(args.agents)
    if len(agents) < args.agents:
        print(f"only {len(agents)} example agents have an input.json", file=sys.stderr)
    admin, approver = run.token("bench-admin", "admin"), run.token("bench-approver", "approver")
    run.start_registry()
    base = f"http://127.0.0.1:{run.port}"
    async with Api(base, admin, approver) as api:
        await wait_seeded(api, [a for a, _ in agents], 300)
        t0 = time.perf_counter()
        fleet = await deploy_all(api, agents, args.parallel, args.deploy_timeout)
        deploy_wall = time.perf_counter() - t0
        pairs = instance_pairs(run.root)
        token = caller_token(run.secret, "scale-bench", ttl_s=3600)
        bodies = {d.agent_id: d.body for d in fleet}
        direct = [(p.agent_url + "/v1/run", bodies[p.agent_id]) for p in pairs]
        governed = [(d.endpoint + "/v1/run", d.body) for d in fleet]
        base_run = await asyncio.to_thread(load, args, direct, token)
        gov_run = await asyncio.to_thread(load, args, governed, token)
        retired, rest = fleet[: args.retire], fleet[args.retire :]
        probes, succeeded = await retire_and_probe(api, retired, token)
        await undeploy_rest(api, rest)
    run.stop_registry()
    out = Outcome(fleet, deploy_wall, pairs, base_run, gov_run, probes, succeeded)
    out.leftovers = len(leftover_processes(run.root))
    report(args, out)
    return 0 if succeeded == 0 and not out.leftovers and gov_run.failed == 0 else 1


@dataclass
class Outcome:
    fleet: list[Deployed]
    deploy_wall: float
    pairs: list[Pair]
    base_run: LoadResult
    gov_run: LoadResult
    probes: int
    probes_ok: int
    leftovers: int = 0


def report(args: argparse.Namespace, out: Outcome) -> None:
    fleet, pairs, base_run, gov_run = out.fleet, out.pairs, out.base_run, out.gov_run
    deploy_wall = out.deploy_wall
    times = sorted(d.deploy_s for d in fleet)
    print(f"\n## Scale run: {len(fleet)} agents, process deployer, {os.cpu_count()} cores\n")
    print(
        f"- deployed {len(fleet)} agents in {deploy_wall:.1f} s ({args.parallel} at a time); "
        f"per agent (promote → approve → ready): p50 {nearest_rank(times, 0.5):.2f} s, "
        f"max {times[-1]:.2f} s"
    )
    rss = [p.rss / MB for p in pairs]
    pss = [p.pss / MB for p in pairs]
    print(
        f"- memory per agent + sidecar pair ({len(pairs)} pairs): RSS mean {mean(rss):.1f} MiB "
        f"(max {max(rss):.1f}), PSS mean {mean(pss):.1f} MiB (max {max(pss):.1f}), "
        f"of which the sidecar {mean(p.sidecar_pss / MB for p in pairs):.1f} MiB"
    )
    print(
        f"\n| phase ({args.concurrency} clients over all agents) | calls/s | p50 ms | p99 ms "
        "| errors | statuses |"
    )
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    print(row("direct to the agent hosts (baseline)", base_run))
    print(row("through the sidecars (governed)", gov_run))
    print(
        f"\n- governed / direct: throughput {gov_run.throughput / base_run.throughput:.2f}x, "
        f"p50 {gov_run.p50 / base_run.p50:.2f}x, p99 {gov_run.p99 / base_run.p99:.2f}x"
    )
    print(
        f"- retired with --undeploy: {args.retire}; calls to their old endpoints: "
        f"{out.probes}, succeeded: {out.probes_ok}"
    )
    print(f"- processes left after undeploy and registry stop: {out.leftovers}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="gl-scale-"))
    run = Run(args, root)
    try:
        return asyncio.run(scenario(run))
    except FleetError as exc:
        print(f"scale run failed: {exc}\n{tail(root / 'registry-0.log')}", file=sys.stderr)
        return 1
    finally:
        run.stop_registry()
        for proc in leftover_processes(root):  # after a failure: instances outlive the registry
            proc.kill()
        if not args.keep:
            import shutil

            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
