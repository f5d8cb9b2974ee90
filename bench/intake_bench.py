"""Audit intake benchmark: sidecar audit batches into the real registry (issue 12, point 6).

    python bench/intake_bench.py [--sidecars 8] [--events 100000] [--batch 200] [--gzip]
                                 [--agents 20] [--workers 1] [--profile-server] [--quick]

What it does, in one run:

1. Starts PostgreSQL (embedded, or a fresh database on $GREENLANG_DATABASE_URL), migrates it,
   bulk-loads --agents registered agents (so usage is counted for them) and creates a `service`
   token with `greenlang-registry token create`, then starts `greenlang-registry serve` as a
   subprocess (bench/registry_setup.py).
2. Builds, before measuring, --events realistic events (as sidecar/call.py builds them) for
   --sidecars sidecars, cut into batches the way sidecar/audit_shipper.py sends them:
   ``{"events":[...]}`` of --batch (the shipper's default 200) compact JSON lines, no gzip
   (--gzip adds Content-Encoding: gzip), bearer token of role `service`.
3. Each sidecar POSTs its batches to /api/v1/audit in order, one in flight (as the shipper
   does), all sidecars at once. events/s = events / wall time from the first send to the last
   answer. Server and PostgreSQL CPU are metered.
4. Verifies: every answer 200 and stored == sent, no duplicates; rows stored == events sent;
   `greenlang-registry audit verify` passes (the whole hash chain); each sidecar's events are
   in the chain in the order it sent them; agent_usage grew by exactly the events sent; a batch
   sent again is answered as all duplicates and stores nothing.
5. Baseline in the same run, same batches and concurrency: asyncpg COPY of the very same rows
   (columns and hashes computed ahead, untimed) into a copy of audit_events with the same
   indexes: what PostgreSQL needs to take them, so the ratio shows what the registry adds.
6. Prints the target (>= 20,000 events/s) as PASS/MISS; --profile-server runs the server under
   cProfile and prints its hottest functions.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import CpuMeter
from bench.registry_dataset import generate
from bench.registry_phases import print_profile
from bench.registry_report import log
from bench.registry_setup import (
    Env,
    admin_token,
    bulk_load,
    child_env,
    run_cli,
    run_in_env,
    start_database,
    start_server,
)

TARGET_EVENTS_S = 20_000
PATHS = ["/v1/calculate", "/v1/report", "/v1/chat/completions", "/v1/validate", "/healthz"]
METHODS = ["POST", "POST", "POST", "GET"]
DECISIONS = (["allow"] * 85) + (["warn"] * 5) + (["deny"] * 8) + ["error", "fail_open"]
POLICIES = ["rbac-access-control", "data-residency", "pii-egress", "rate-limit", "cbam-scope"]


@dataclass
class Batch:
    body: bytes
    event_ids: list[str]
    events: list[dict[str, Any]]


@dataclass
class Sidecar:
    name: str
    batches: list[Batch] = field(default_factory=list)


@dataclass
class Outcome:
    seconds: float = 0.0
    stored: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


# -- the events ---------------------------------------------------------------------------------


def make_event(rng: random.Random, sidecar: str, agent: str, at: datetime) -> dict[str, Any]:
    """One event as sidecar/call.py's audit_event builds it (same keys, same value shapes)."""
    decision = rng.choice(DECISIONS)
    violations = (
        [{"policy_id": rng.choice(POLICIES), "message": "caller lacks role analyst for agent"}]
        if decision == "deny"
        else []
    )
    warnings = (
        [{"policy_id": "pii-egress", "message": "response may contain an e-mail address"}]
        if decision == "warn"
        else []
    )
    status = 403 if decision == "deny" else rng.choice([200] * 30 + [201, 400, 500, 502])
    llm = rng.random() < 0.4
    prompt, completion = rng.randrange(50, 4000), rng.randrange(10, 800)
    return {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "time": at.isoformat(),
        "sidecar": sidecar,
        "request_id": f"{rng.getrandbits(64):016x}",
        "trace_id": f"{rng.getrandbits(128):032x}" if rng.random() < 0.7 else None,
        "user_id": f"user-{rng.randrange(500)}@example.com" if rng.random() < 0.9 else None,
        "agent_id": agent,
        "version": "1.0.0",
        "action": "invoke",
        "method": rng.choice(METHODS),
        "path": rng.choice(PATHS),
        "environment": "production",
        "decision": decision,
        "violations": violations,
        "warnings": warnings,
        "status": status,
        "latency_ms": round(rng.uniform(0.5, 900.0), 3),
        "tokens": (
            {"total": prompt + completion, "prompt": prompt, "completion": completion,
             "model": "gpt-x"}
            if llm else None
        ),
    }  # fmt: skip


def make_sidecars(args: argparse.Namespace, agents: Sequence[str]) -> list[Sidecar]:
    """--events events over --sidecars sidecars (each guarding one agent), in shipper batches."""
    rng = random.Random(args.seed)
    start = datetime.now(UTC) - timedelta(hours=1)
    sidecars = [Sidecar(f"sc-bench-{i}") for i in range(args.sidecars)]
    per = [
        args.events // args.sidecars + (i < args.events % args.sidecars)
        for i in range(args.sidecars)
    ]
    for i, (sc, n) in enumerate(zip(sidecars, per, strict=True)):
        agent = agents[i % len(agents)]
        events = [
            make_event(rng, sc.name, agent, start + timedelta(microseconds=137 * k + i))
            for k in range(n)
        ]
        for lo in range(0, n, args.batch):
            chunk = events[lo : lo + args.batch]
            # What kernel/spool.py encode_event + Batch.payload produce.
            lines = [json.dumps(e, separators=(",", ":"), allow_nan=False).encode() for e in chunk]
            body = b'{"events":[' + b",".join(lines) + b"]}"
            sc.batches.append(Batch(body, [e["event_id"] for e in chunk], chunk))
    return sidecars


# -- sending ------------------------------------------------------------------------------------


async def post_all(base: str, token: str, sidecars: list[Sidecar], use_gzip: bool) -> Outcome:
    """Every sidecar sends its batches in order, one in flight; all sidecars at once."""
    import aiohttp

    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
    bodies = {
        id(b): gzip.compress(b.body, 5) if use_gzip else b.body
        for sc in sidecars
        for b in sc.batches
    }
    out = Outcome()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def ship(sc: Sidecar) -> None:
            for b in sc.batches:
                t = time.perf_counter()
                async with session.post(
                    f"{base}/api/v1/audit", data=bodies[id(b)], headers=headers
                ) as resp:
                    text = await resp.text()
                out.latencies.append(time.perf_counter() - t)
                if resp.status != 200:
                    out.errors.append(f"{sc.name}: {resp.status} {text[:300]}")
                    continue
                answer = json.loads(text)
                out.stored += answer["stored"]
                out.duplicates += answer["duplicates"]

        t0 = time.perf_counter()
        await asyncio.gather(*(ship(sc) for sc in sidecars))
        out.seconds = time.perf_counter() - t0
    return out


async def resend_one(base: str, token: str, batch: Batch) -> dict[str, Any]:
    import aiohttp

    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/api/v1/audit", data=batch.body, headers=headers) as resp,
    ):
        answer: dict[str, Any] = await resp.json()
        answer["status"] = resp.status
        return answer


# -- checks -------------------------------------------------------------------------------------


async def verify(
    pool: Any, cenv: dict[str, str], sidecars: list[Sidecar], usage_before: int
) -> list[tuple[str, bool, str]]:
    """(check, ok, detail) for everything the run must have stored."""
    sent = sum(len(b.event_ids) for sc in sidecars for b in sc.batches)
    checks: list[tuple[str, bool, str]] = []
    stored = await pool.fetchval("SELECT count(*) FROM audit_events WHERE action='sidecar.invoke'")
    checks.append(("rows stored == events sent", stored == sent, f"{stored} / {sent}"))
    t = time.perf_counter()
    out = await asyncio.to_thread(run_cli, ["audit", "verify"], cenv, 600)
    line = (out.stdout.strip().splitlines() or [out.stderr.strip()])[-1]
    checks.append(
        ("audit verify (whole chain)", out.returncode == 0,
         f"{line} in {time.perf_counter() - t:.1f}s")
    )  # fmt: skip
    rows = await pool.fetch(
        "SELECT actor, event_id FROM audit_events WHERE action='sidecar.invoke' ORDER BY seq"
    )
    seen: dict[str, list[str]] = {}
    for r in rows:
        seen.setdefault(r["actor"], []).append(r["event_id"])
    in_order = all(
        seen.get(f"sidecar:{sc.name}") == [f"sidecar:{i}" for b in sc.batches for i in b.event_ids]
        for sc in sidecars
    )
    checks.append(("per-sidecar order preserved", in_order, f"{len(sidecars)} sidecars"))
    usage = await pool.fetchval("SELECT coalesce(sum(calls), 0) FROM agent_usage")
    grew = usage - usage_before
    checks.append(("usage counted once per event", grew == sent, f"+{grew} calls"))
    return checks


# -- baseline -----------------------------------------------------------------------------------

AUDIT_COLS = [
    "event_id", "at", "actor", "action", "target", "agent_id", "before", "after", "reason",
    "request_id", "prev_hash", "hash",
]  # fmt: skip


def baseline_rows(sidecars: list[Sidecar]) -> list[list[list[tuple[Any, ...]]]]:
    """The rows the registry stores for each batch (columns + chain links), built untimed."""
    from kernel.audit_event import event_at
    from registry.audit.chain import GENESIS, AuditRecord, chain, prepare

    prev = GENESIS
    out = []
    for sc in sidecars:
        batches = []
        for b in sc.batches:
            rows = []
            for e in b.events:
                agent = e["agent_id"]
                p = prepare(
                    AuditRecord(
                        actor=f"sidecar:{e['sidecar']}", action="sidecar.invoke",
                        target=f"{agent}@{e['version']}", agent_id=agent, after=e,
                        reason="reported with token bench (bench)", request_id=e["request_id"],
                        event_id=f"sidecar:{e['event_id']}", at=event_at(e),  # type: ignore[arg-type]
                    )
                )  # fmt: skip
                digest = chain(prev, p.canonical)
                rows.append((*p.columns, prev, digest))
                prev = digest
            batches.append(rows)
        out.append(batches)
    return out


async def baseline_copy(
    db_url: str, per_sidecar: list[list[list[tuple[Any, ...]]]], meter: CpuMeter
) -> tuple[float, dict[str, float]]:
    """Seconds to COPY every batch (one transaction each, one connection per sidecar, all
    sidecars at once) into a copy of audit_events with its indexes, and the CPU `meter` saw
    (stopped before the connections close: a backend's CPU leaves with it)."""
    import asyncpg

    setup = await asyncpg.connect(db_url)
    try:
        await setup.execute(
            "DROP TABLE IF EXISTS audit_baseline;"
            " CREATE TABLE audit_baseline (LIKE audit_events INCLUDING INDEXES);"
            " ALTER TABLE audit_baseline ALTER seq ADD GENERATED ALWAYS AS IDENTITY"
        )
    finally:
        await setup.close()
    conns = [await asyncpg.connect(db_url) for _ in per_sidecar]

    async def copy(conn: Any, batches: list[list[tuple[Any, ...]]]) -> None:
        for rows in batches:
            async with conn.transaction():
                await conn.copy_records_to_table("audit_baseline", records=rows, columns=AUDIT_COLS)

    try:
        meter.start()
        t0 = time.perf_counter()
        await asyncio.gather(*(copy(c, b) for c, b in zip(conns, per_sidecar, strict=True)))
        return time.perf_counter() - t0, meter.stop()
    finally:
        for c in conns:
            await c.close()


# -- the run ------------------------------------------------------------------------------------


async def service_token(cenv: dict[str, str]) -> str:
    made = await asyncio.to_thread(
        run_cli, ["token", "create", "--role", "service", "--name", "bench-sidecars"], cenv, 120
    )
    if made.returncode != 0:
        raise RuntimeError(f"token create failed:\n{made.stderr}")
    return made.stdout.strip().splitlines()[-1]


def report(
    args: argparse.Namespace,
    out: Outcome,
    cpu: dict[str, float],
    base_s: float | None,
    base_cpu: dict[str, float],
) -> float:
    rate = out.stored / out.seconds if out.seconds else 0.0
    lat = sorted(out.latencies)
    p50 = lat[len(lat) // 2] * 1000 if lat else float("nan")
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000 if lat else float("nan")
    log(f"\n== Audit intake: {args.sidecars} sidecars x batches of {args.batch}"
        f"{' (gzip)' if args.gzip else ''}, {args.workers} server process(es) ==")  # fmt: skip
    log(f"registry: {out.stored} events in {out.seconds:.2f}s = {rate:,.0f} events/s; "
        f"batch latency p50 {p50:.1f} ms, p99 {p99:.1f} ms")  # fmt: skip
    log("CPU s over the phase: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
        + (f"; server CPU per 1000 events {1e6 * cpu.get('server', 0) / out.stored:.0f} ms"
           if out.stored else ""))  # fmt: skip
    if base_s:
        base_rate = out.stored / base_s
        log(f"baseline (asyncpg COPY of the same rows, same batches and concurrency): "
            f"{base_rate:,.0f} events/s; registry = {rate / base_rate:.0%} of it")  # fmt: skip
        if "postgres" in base_cpu and "postgres" in cpu and out.stored:
            per = 1e6 / out.stored
            log(f"PostgreSQL CPU per 1000 events: registry {cpu['postgres'] * per:.0f} ms, "
                f"baseline COPY {base_cpu['postgres'] * per:.0f} ms")  # fmt: skip
    return rate


async def run(args: argparse.Namespace, env: Env) -> int:
    import asyncpg

    log(f"bench root: {env.root}  (python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    pg_pid = await start_database(env)
    data_dir = env.root / "registry"
    data_dir.mkdir(parents=True, exist_ok=True)
    cenv = child_env(env, data_dir)
    await admin_token(cenv)  # migrates
    ds = generate(args.agents, seed=args.seed)
    await bulk_load(env.db_url, ds, with_outbox=False)
    token = await service_token(cenv)
    t = time.perf_counter()
    sidecars = make_sidecars(args, ds.agent_ids)
    log(f"built {args.events} events in {sum(len(s.batches) for s in sidecars)} batches "
        f"in {time.perf_counter() - t:.1f}s")  # fmt: skip
    pool = await asyncpg.create_pool(env.db_url, min_size=1, max_size=2)
    try:
        usage_before = await pool.fetchval("SELECT coalesce(sum(calls), 0) FROM agent_usage")
        base, _ = await start_server(env, cenv, data_dir, args.workers, args.profile_server)
        assert env.server is not None
        meter = CpuMeter({"server": env.server.pid, **({"postgres": pg_pid} if pg_pid else {})})
        meter.start()
        out = await post_all(base, token, sidecars, args.gzip)
        cpu = meter.stop()
        again = await resend_one(base, token, sidecars[0].batches[0])
        checks = await verify(pool, cenv, sidecars, usage_before)
        n0 = len(sidecars[0].batches[0].event_ids)
        checks.insert(0, ("every answer 200, stored == sent", not out.errors
                          and out.stored == args.events and out.duplicates == 0,
                          f"{len(out.errors)} errors; {out.stored} stored"))  # fmt: skip
        checks.append(("a batch sent again: all duplicates", again.get("stored") == 0
                       and again.get("duplicates") == n0, str(again)))  # fmt: skip
    finally:
        await pool.close()
    for e in out.errors[:5]:
        log(f"error: {e}")
    base_s: float | None = None
    base_cpu: dict[str, float] = {}
    if args.baseline:
        rows = baseline_rows(sidecars)
        pg_meter = CpuMeter({"postgres": pg_pid} if pg_pid else {}, own=None)
        base_s, base_cpu = await baseline_copy(env.db_url, rows, pg_meter)
    if args.profile_server:
        env.stop_server()
        print_profile(env.root / "server.prof", args.profile_top)
    rate = report(args, out, cpu, base_s, base_cpu)
    for name, ok, detail in checks:
        log(f"{name:<40} {'ok' if ok else 'FAILED'}  ({detail})")
    verdict = "PASS" if rate >= TARGET_EVENTS_S else "MISS"
    log(f"{'target: audit intake >= 20,000 events/s':<40} {rate:>10,.0f}  {verdict}")
    return 0 if all(ok for _, ok, _ in checks) else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sidecars", type=int, default=8, help="concurrent sidecars (8)")
    p.add_argument("--events", type=int, default=100_000, help="events in all (100000)")
    p.add_argument("--batch", type=int, default=200, help="events per batch (200, the shipper's)")
    p.add_argument("--gzip", action="store_true", help="send Content-Encoding: gzip")
    p.add_argument("--agents", type=int, default=20, help="registered agents (20)")
    p.add_argument("--workers", type=int, default=1, help="registry server processes (1)")
    p.add_argument("--no-baseline", dest="baseline", action="store_false",
                   help="skip the asyncpg COPY baseline")  # fmt: skip
    p.add_argument("--profile-server", action="store_true", help="cProfile the server")
    p.add_argument("--profile-top", type=int, default=40, help="functions shown (40)")
    p.add_argument("--data-dir", help="parent for the temp dir (database, logs); default $TMPDIR")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (server log, profile)")
    p.add_argument("--quick", action="store_true", help="smoke run: 5000 events, 4 sidecars")
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv)
    if args.quick:
        args.events, args.sidecars = min(args.events, 5000), min(args.sidecars, 4)
    if not 1 <= args.batch <= 500 or args.sidecars < 1 or args.events < args.sidecars:
        p.error("--batch must be 1..500, --sidecars >= 1 and --events >= --sidecars")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_in_env("glintake-", args.data_dir, args.keep, lambda env: run(args, env))


if __name__ == "__main__":
    raise SystemExit(main())
