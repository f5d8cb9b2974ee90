"""Compliance report bench (docs/reports.md, "Performance"): how long a one-year report takes
when the year holds `--events` (default 10 million) sidecar decision events.

What is loaded, and why. A report never reads the events: it reads the per-day rollups the
intake fills (migration 011), whose size is agents x versions x days (+ one row per policy
that violated or warned that day), whatever the number of events. So the year's rollup rows are
generated for `--events` events and loaded with COPY (seconds), instead of storing 10 million
hash-chained audit events (hours of intake and ~10 GB on this machine) only to roll them up
again. The parts that do touch events are measured on real ones: `--intake-events` events are
stored through the real intake (`store_events`: chain append + usage + rollups in one
transaction), rolled up again by the migration's backfill SQL (checked equal to the intake's
counts), and re-hashed by the report's audit-chain verification; their rates are printed with
what they mean for 10 million events.

    python bench/report_bench.py                  # 10M events, 100 agents x 2 versions, 1 year
    python bench/report_bench.py --events 100000 --agents 10 --intake-events 2000   # smoke
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from registry.audit.sidecar_intake import SidecarBatch, store_events
from registry.auth.models import Role
from registry.auth.principal import Principal
from registry.reports.query import ReportQuery
from registry.reports.render_html import render_html
from registry.reports.render_policyreport import render_policyreport
from registry.reports.service import compliance_report
from registry.store import reports as report_sql
from registry.store.decision_counts import backfill_sql
from registry.store.migrate import migrate

TEAMS = ["cbam-team", "csrd-reporting", "scope3-analytics", "supply-chain", "energy-data"]
SCOPES = ["CBAM", "CSRD", "EUDR", "SFDR", "GHG-Protocol"]
POLICIES = [f"policy-{i:02d}" for i in range(12)]
YEAR = date(2026, 1, 1)
INTAKE_VERSION = "9.9.9-intake"  # the real events' version: apart from the generated rollups


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=10_000_000, help="events in the year")
    p.add_argument("--agents", type=int, default=100)
    p.add_argument("--versions", type=int, default=2, help="versions called per agent")
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--violation-rate", type=float, default=0.0005)
    p.add_argument("--warn-rate", type=float, default=0.01)
    p.add_argument("--intake-events", type=int, default=20_000, help="real events stored")
    p.add_argument("--reps", type=int, default=3, help="timed runs per report (median shown)")
    p.add_argument("--database-url", help="an existing empty database (default: embedded)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--explain", action="store_true", help="print the plans of the rollup reads")
    return p.parse_args(argv)


def agent_id(i: int) -> str:
    return f"gl-bench-{i:04d}"


async def load_agents(pool: asyncpg.Pool, n: int) -> None:
    now = datetime.now(UTC)
    rows = [
        (agent_id(i), f"Bench agent {i}", "bench", TEAMS[i % len(TEAMS)], "calculator",
         [SCOPES[i % len(SCOPES)]], [], "1.0.0", now, now)
        for i in range(n)
    ]  # fmt: skip
    cols = ["agent_id", "name", "description", "owner_team", "type", "regulatory_scope", "tags",
            "current_version", "created_at", "updated_at"]  # fmt: skip
    await pool.copy_records_to_table("agents", records=rows, columns=cols)


def rollup_rows(a: argparse.Namespace, rng: random.Random) -> tuple[list[Any], list[Any]]:
    """decision_counts and policy_counts rows of `a.events` events spread over the year."""
    days = [YEAR + timedelta(days=d) for d in range(a.days)]
    cells = [
        (agent_id(i), day, f"1.{v}.0")
        for i in range(a.agents)
        for day in days
        for v in range(a.versions)
    ]
    base, extra = divmod(a.events, len(cells))
    decisions, policies = [], []
    for n, (agent, day, version) in enumerate(cells):
        calls = base + (n < extra)
        mean = calls * a.violation_rate
        violating = max(0, min(calls, round(rng.gauss(mean, mean**0.5 or 0.1))))
        warned = max(0, min(calls - violating, round(calls * a.warn_rate)))
        refused = int(rng.random() < 0.01)
        allowed = calls - violating - warned - refused
        decisions.append((agent, day, version, calls, allowed, warned, violating, refused, 0,
                          violating))  # fmt: skip
        for kind, count in (("v", violating), ("w", warned)):
            if count:
                pid = POLICIES[rng.randrange(len(POLICIES))]
                ids = [f"req-{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}" for _ in range(3)]
                policies.append((agent, day, version, pid, kind.encode(), count, ids[:count]))
    return decisions, policies


async def load_rollups(pool: asyncpg.Pool, a: argparse.Namespace) -> tuple[int, int]:
    decisions, policies = rollup_rows(a, random.Random(a.seed))
    await pool.copy_records_to_table("decision_counts", records=decisions)
    await pool.copy_records_to_table("policy_counts", records=policies)  # "char": bytes
    await pool.execute("ANALYZE decision_counts; ANALYZE policy_counts")
    return len(decisions), len(policies)


def intake_batch(rng: random.Random, n: int, agents: int, days: int) -> SidecarBatch:
    events = []
    for _ in range(n):
        r = rng.random()
        decision = "deny" if r < 0.01 else "warn" if r < 0.05 else "allow"
        finding = [{"policy_id": POLICIES[rng.randrange(12)], "message": "bench"}]
        at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(days * 86400))
        events.append({
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "time": at.isoformat(), "sidecar": "sc-bench",
            "request_id": f"req-{rng.getrandbits(48):012x}", "trace_id": None, "user_id": "bench",
            "agent_id": agent_id(rng.randrange(agents)), "version": INTAKE_VERSION,
            "action": "invoke", "method": "POST", "path": "/v1/run", "environment": "production",
            "decision": decision, "violations": finding if decision == "deny" else [],
            "warnings": finding if decision == "warn" else [], "status": 200,
            "latency_ms": 3.0, "tokens": None,
        })  # fmt: skip
    return SidecarBatch.model_validate({"events": events})


async def intake(pool: asyncpg.Pool, a: argparse.Namespace) -> float:
    """Real events through store_events, 500 per batch; returns events/s."""
    rng = random.Random(a.seed + 1)
    principal = Principal("tok-bench", "bench", Role.SERVICE, None)
    batches = [intake_batch(rng, min(500, a.intake_events - i), a.agents, a.days)
               for i in range(0, a.intake_events, 500)]  # fmt: skip
    started = time.perf_counter()
    for batch in batches:
        await store_events(pool, batch, principal)
    return a.intake_events / (time.perf_counter() - started)


async def backfill_check(pool: asyncpg.Pool, a: argparse.Namespace) -> float:
    """The migration's backfill over the stored events, into scratch tables: events/s. Its rows
    must equal what the intake counted for those events (exits otherwise)."""
    async with pool.acquire() as conn:
        for table in ("decision_counts", "policy_counts"):
            await conn.execute(f"CREATE TEMP TABLE bf_{table} (LIKE {table} INCLUDING ALL)")
        started = time.perf_counter()
        for sql in backfill_sql(prefix="bf_"):
            await conn.execute(sql)
        rate = a.intake_events / (time.perf_counter() - started)
        for table in ("decision_counts", "policy_counts"):
            mine = f"SELECT * FROM {table} WHERE version = '{INTAKE_VERSION}'"
            theirs = f"SELECT * FROM bf_{table}"
            for left, right in ((mine, theirs), (theirs, mine)):
                if await conn.fetchval(f"SELECT count(*) FROM ({left} EXCEPT {right}) d"):
                    raise SystemExit(f"backfill and intake disagree on {table}")
    return rate


async def timed(reps: int, fn: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(reps):
        started = time.perf_counter()
        result = await fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


async def explain(pool: asyncpg.Pool, a: argparse.Namespace, year: dict[str, str]) -> None:
    """EXPLAIN ANALYZE of the rollup reads for all agents and for one."""
    first, last = date.fromisoformat(year["from"]), date.fromisoformat(year["to"])
    for ids in ([agent_id(i) for i in range(a.agents)], [agent_id(0)]):
        for name in ("DECISIONS_SQL", "POLICIES_SQL", "EXAMPLES_SQL"):
            sql = getattr(report_sql, name)
            plan = await pool.fetch(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}", ids, first, last)
            print(f"-- {name}, {len(ids)} agent(s)")
            print("\n".join(r[0] for r in plan))


async def bench(pool: asyncpg.Pool, a: argparse.Namespace) -> None:
    await migrate(pool)
    await load_agents(pool, a.agents)
    started = time.perf_counter()
    n_decisions, n_policies = await load_rollups(pool, a)
    print(f"rollups for {a.events:,} events: {n_decisions:,} decision rows + {n_policies:,} "
          f"policy rows, COPY {time.perf_counter() - started:.1f} s")  # fmt: skip
    rate = await intake(pool, a)
    print(f"intake (chain + usage + rollups): {a.intake_events:,} real events at {rate:,.0f}/s")
    rate = await backfill_check(pool, a)
    print(f"migration backfill: {rate:,.0f} events/s -> 10M events ~{1e7 / rate:,.0f} s")
    year = {"from": YEAR.isoformat(), "to": (YEAR + timedelta(days=a.days - 1)).isoformat()}
    first, doc = await timed(1, lambda: compliance_report(pool, ReportQuery.model_validate(year)))
    chain = doc.audit_chain
    print(
        f"first report (re-hashes the {chain.rehashed:,} stored events): {first:.2f} s; "
        f"chain ok={chain.ok}; re-hash rate ~{chain.rehashed / first:,.0f} events/s"
    )
    cases = {
        "all agents, 1 year, json": (year, None),
        "all agents, 1 year, html": (year, render_html),
        "all agents, 1 year, policyreport": (year, render_policyreport),
        f"team {TEAMS[0]}, 1 year": ({**year, "team": TEAMS[0]}, None),
        f"scope {SCOPES[1]}, 1 year": ({**year, "scope": SCOPES[1]}, None),
        f"agent {agent_id(0)}, 1 year": ({**year, "agent": agent_id(0)}, None),
    }
    for name, (params, render) in cases.items():
        q = ReportQuery.model_validate(params)

        async def run(q: ReportQuery = q, render: Any = render) -> Any:
            report = await compliance_report(pool, q)
            return render(report) if render else report.model_dump_json()

        seconds, _ = await timed(a.reps, run)
        print(f"report {name}: {seconds * 1000:,.0f} ms (median of {a.reps})")
    if a.explain:
        await explain(pool, a, year)
    print(f"totals: {doc.totals.calls:,} calls, violation rate {doc.totals.violation_rate:.4%}, "
          f"{len(doc.agents)} agents, score {doc.score}")  # fmt: skip


async def main(a: argparse.Namespace) -> None:
    handle, root = None, None
    url = a.database_url
    if url is None:
        from registry.store.embedded import start_embedded_postgres

        root = Path(tempfile.mkdtemp(prefix="gl-report-bench-"))
        url, handle = start_embedded_postgres(root, cleanup="delete")
    try:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
        try:
            await bench(pool, a)
        finally:
            await pool.close()
    finally:
        if handle is not None:
            handle.cleanup()
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
