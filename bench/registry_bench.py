"""End-to-end latency benchmark of the GreenLang Agent Registry API over real PostgreSQL.

    python bench/registry_bench.py [--agents 10000] [--concurrency 50] [--requests 5000]
                                   [--data-dir DIR] [--client-procs 1] [--explain]
                                   [--profile-server] [--quick]

What it does, in one run:

1. Starts PostgreSQL (embedded, in a temp dir; or a fresh database on the server named by
   $GREENLANG_DATABASE_URL), migrates it and creates an admin token with
   `greenlang-registry token create`, then starts `greenlang-registry serve` as a subprocess
   (own process, own GIL) on a free port.
2. Bulk-loads N agents (1-3 versions each, certificates, one search_outbox row per agent) with
   asyncpg COPY; the server's outbox relay (or `greenlang-registry reindex`) builds the search
   index. ~20 more agents go through POST /api/v1/agents to show the API write path.
3. Closed-loop load at --concurrency clients (aiohttp, keep-alive, in --client-procs separate
   processes): GET /api/v1/agents/{id} and GET /api/v1/agents/search?query=...&page_size=20.
   Also at concurrency 1 (service time without queueing) and open loop at a fixed arrival
   rate (--rate-get, --rate-search; latency from the scheduled send time).
4. Baselines in the same run and at the same concurrency: the raw SQL the API runs for a get
   (ONE_ENTRY_SQL), PostgresSearchIndex.search, and search + the entry SQL.
5. A per-stage breakdown at concurrency 1 (SQL vs pydantic vs JSON), optional EXPLAIN ANALYZE
   plans and an optional cProfile of the server, then a summary against the targets
   (get p95 < 10 ms, search p95 < 25 ms). Everything is torn down on exit, Ctrl-C or error.

Modules: registry_dataset (the catalogue and query mix), registry_setup (PostgreSQL, server,
bulk load, teardown), registry_phases (load via bench.loadgen, baselines, breakdown) and
registry_report (rows and summary); this file only orders the steps.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import CpuMeter
from bench.registry_dataset import (
    Dataset,
    check_specs,
    distinct_search_requests,
    distinct_share,
    generate,
    search_path,
    search_query,
    search_requests,
)
from bench.registry_phases import (
    HttpTarget,
    breakdown,
    explain,
    print_profile,
    register_via_api,
    run_http,
    run_inprocess,
    sanity,
)
from bench.registry_report import (
    GET_TARGET_P95_MS,
    HEADER,
    SEARCH_TARGET_P95_MS,
    Result,
    api_vs_baseline,
    log,
    verdicts,
)
from bench.registry_setup import (
    Env,
    admin_token,
    bulk_load,
    child_env,
    reindex,
    run_in_env,
    start_database,
    start_meili,
    start_server,
    wait_indexed,
)

LABEL = {"get": "GET agent", "search": "search", "distinct": "search distinct"}
ROUTE = {
    "get": "API GET /agents/{id}",
    "search": "API GET /agents/search",
    "distinct": "API search, distinct mix",
}
TARGET = {"get": GET_TARGET_P95_MS, "search": SEARCH_TARGET_P95_MS}
# Issue 12: the distinct (mostly uncached) mix at 50 clients, per search backend.
DISTINCT_TARGET_P95_MS = {"postgres": 100.0, "meili": 25.0}
SAMPLE_QUERIES = [
    {"query": "emissions", "page_size": 20},
    {"query": "emisions", "page_size": 20},
    {"query": "steel emissions calculator", "page_size": 20},
    {"query": "decarb", "page_size": 20},
    {"query": "steel", "regulatory_scope": "CBAM", "page_size": 20},
    {"regulatory_scope": "SFDR", "page_size": 20},
]


@dataclass
class Run:
    """What the phases share: the arguments, the loaded data, the server, and the results."""

    args: argparse.Namespace
    ds: Dataset
    target: HttpTarget
    pool: Any
    cpu: CpuMeter
    all_ids: list[str]
    results: list[Result] = field(default_factory=list)
    api: dict[str, Result] = field(default_factory=dict)
    api1: dict[str, Result] = field(default_factory=dict)
    open_loop: list[tuple[str, Result, float]] = field(default_factory=list)
    db: dict[str, Result] = field(default_factory=dict)
    index: Any = None  # the search adapter the server uses, for the in-process baselines
    distinct_share: float | None = None

    @property
    def kinds(self) -> list[str]:
        searches = ["search", "distinct"]
        return {"both": ["get", *searches], "get": ["get"], "search": searches}[self.args.only]

    def limit(self, kind: str) -> float:
        if kind == "distinct":
            return DISTINCT_TARGET_P95_MS[self.args.search_backend]
        return TARGET[kind]

    def keep(self, res: Result, cpu_line: bool = True) -> Result:
        self.results.append(res)
        log(res.row())
        if cpu_line:
            log(res.cpu_line())
        if res.note:
            log(f"    {res.note}")
        return res


async def load_data(args: argparse.Namespace, env: Env, cenv: dict[str, str]) -> Dataset:
    t = time.perf_counter()
    ds = generate(args.agents, args.seed)
    check_specs(ds)
    t_gen = time.perf_counter() - t
    t_copy = await bulk_load(env.db_url, ds, with_outbox=args.index_via == "relay")
    log(
        f"generated {len(ds.agents)} agents / {len(ds.versions)} versions / "
        f"{len(ds.certificates)} certificates in {t_gen:.1f}s; COPY into PostgreSQL "
        f"{t_copy:.2f}s"
    )
    return ds


async def http_phases(r: Run, api_paths: dict[str, list[str]]) -> None:
    """Closed loop at --concurrency, then at 1 client, then open loop at the fixed rates."""
    args, cap, c = r.args, r.args.max_phase_seconds, r.args.concurrency

    async def http(name: str, paths: list[str], conc: int, rate: float = 0.0) -> Result:
        if args.warmup and conc > 1 and not rate:
            await run_http(r.target, "warm-up", paths[: args.warmup], conc, cap, metered=False)
            paths = paths[args.warmup :]
        return r.keep(await run_http(r.target, name, paths, conc, cap, rate))

    log(
        f"\n== Load: {args.requests} requests per phase, warm-up {args.warmup}, cap {cap:.0f}s "
        f"per phase, {args.client_procs} load-generator process(es) =="
    )
    log(HEADER)
    rate = {"get": args.rate_get, "search": args.rate_search, "distinct": 0.0}
    for k in r.kinds:
        r.api[k] = await http(ROUTE[k], api_paths[k], c)
    for k in r.kinds:
        r.api1[k] = await http(ROUTE[k], api_paths[k][: args.serial], 1)
    for k in r.kinds:
        if rate[k] > 0:
            count = min(len(api_paths[k]), max(1, int(rate[k] * args.open_seconds)))
            name = f"API {LABEL[k]} open loop {rate[k]:g}/s"
            res = await http(name, api_paths[k][-count:], c, rate[k])
            check = f"{LABEL[k]} p95 @ {rate[k]:g} req/s open loop"
            r.open_loop.append((check, res, r.limit(k)))


Baseline = tuple[str, Sequence[Any], Callable[[Any], Awaitable[None]]]


def baseline_names(kind: str, adapter: str) -> tuple[str, tuple[str, str] | None]:
    """A kind's baseline phase and (label, another baseline compared at p95)."""
    if kind == "get":
        return "DB get: ONE_ENTRY_SQL", ("vs 1-row SELECT", "DB get: SELECT * FROM agents")
    if kind == "search":
        return f"DB {adapter}.search", ("vs search+entries", "DB search + fetch_entries")
    return f"DB {adapter}.search, distinct", None


def baselines(
    r: Run, get_ids: list[str], queries: list[Any], distinct: list[Any]
) -> dict[str, list[Baseline]]:
    """What the API runs (the SQL; the search adapter), from this process at the same
    concurrency."""
    from registry.store.agents import ONE_ENTRY_SQL, fetch_entries

    pool, index = r.pool, r.index
    adapter = type(index).__name__

    async def db_get(agent_id: str) -> None:
        await pool.fetchrow(ONE_ENTRY_SQL, agent_id)

    async def db_row(agent_id: str) -> None:
        await pool.fetchrow("SELECT * FROM agents WHERE agent_id = $1", agent_id)

    async def db_search(sq: Any) -> None:
        await index.search(sq)

    async def db_search_entries(sq: Any) -> None:
        hits = await index.search(sq)
        await fetch_entries(pool, hits.agent_ids)

    return {
        "get": [
            ("DB get: SELECT * FROM agents", get_ids, db_row),
            ("DB get: ONE_ENTRY_SQL", get_ids, db_get),
        ],
        "search": [
            (baseline_names("search", adapter)[0], queries, db_search),
            ("DB search + fetch_entries", queries, db_search_entries),
        ],
        "distinct": [(baseline_names("distinct", adapter)[0], distinct, db_search)],
    }


async def baseline_phases(r: Run, plan: dict[str, list[Baseline]]) -> None:
    args, cap, c = r.args, r.args.max_phase_seconds, r.args.concurrency
    for k in r.kinds:
        for name, items, fn in plan[k]:
            await run_inprocess("warm-up", c, items[: args.warmup], fn, cap, None)
            r.db[name] = r.keep(await run_inprocess(name, c, items, fn, cap, r.cpu))
    for k in r.kinds:
        name, items, fn = plan[k][-1 if k == "get" else 0]
        res = await run_inprocess(name, 1, items[: args.serial], fn, cap, None)
        r.db[name + " c=1"] = r.keep(res, cpu_line=False)


def summary(r: Run, reg: Result, started: float) -> int:
    args, c = r.args, r.args.concurrency
    log("\n" + "=" * 100)
    log(
        f"SUMMARY  agents={len(r.all_ids)}  concurrency={c}  requests/phase={args.requests}  "
        f"client procs={args.client_procs}  CPUs={os.cpu_count()}"
        + ("  [server under cProfile: latencies inflated]" if args.profile_server else "")
    )
    log(HEADER)
    for res in r.results:
        log(res.row())
    log("")
    checks = [(f"{LABEL[k]} p95 @ {c} clients", r.api[k], r.limit(k)) for k in r.kinds]
    checks += [
        (f"{LABEL[k]} p95 @ 1 client (service time)", r.api1[k], r.limit(k)) for k in r.kinds
    ]
    verdicts([*checks, *r.open_loop])
    if r.distinct_share is not None:
        log(f"distinct mix: {100 * r.distinct_share:.0f}% of the measured queries occur once; "
            f"search backend {args.search_backend}")  # fmt: skip
    log("")
    for k in r.kinds:
        name, other = baseline_names(k, type(r.index).__name__)
        api_vs_baseline(k, r.api[k], r.api1[k], r.db, name, other)
    log(
        f"Little's law: at {c} closed-loop clients p50 ~ {c}/throughput, so a p95 under 10 ms "
        f"needs > {c / 0.010:.0f} req/s from one server process."
    )
    log(f"HTTP registration p50 {reg.p(50):.1f} ms ({reg.n} sequential POSTs)")
    log(f"bench wall time {time.perf_counter() - started:.0f}s")
    failures = sum(res.errors for res in r.results) + reg.errors
    if failures:
        log(f"{failures} request(s) failed; see the notes above")
    return 1 if failures else 0


async def measure(r: Run, token: str) -> Result:
    """Everything measured against the running server; the API registration result."""
    args, rng = r.args, random.Random(r.args.seed)
    await sanity(r.target.base, token, r.ds.agent_ids[0])
    reg = await register_via_api(r.target.base, token, args.register, args.seed)
    log(
        f"HTTP registration: {reg.n} agents, p50 {reg.p(50):.1f} ms, "
        f"p95 {reg.p(95):.1f} ms, max {reg.lat_ms[-1]:.1f} ms, errors {reg.errors}"
    )
    r.all_ids += [f"bench-api-agent-{i:03d}" for i in range(args.register)]
    n = args.requests + args.warmup
    get_paths = [f"/api/v1/agents/{rng.choice(r.all_ids)}" for _ in range(n)]
    search_params = search_requests(rng, n)
    distinct = distinct_search_requests(r.ds, random.Random(args.seed + 1), n)
    r.distinct_share = distinct_share(distinct[args.warmup :])
    log(f"distinct search mix: {100 * r.distinct_share:.0f}% of the {n - args.warmup} measured "
        f"queries occur once (words, phrases, typos, prefixes, filters)")  # fmt: skip
    paths = {
        "get": get_paths,
        "search": [search_path(p) for p in search_params],
        "distinct": [search_path(p) for p in distinct],
    }
    await http_phases(r, paths)
    get_ids = [p.rsplit("/", 1)[1] for p in get_paths[args.warmup :]]
    queries = [search_query(p) for p in search_params][args.warmup :]
    dqueries = [search_query(p) for p in distinct][args.warmup :]
    await baseline_phases(r, baselines(r, get_ids, queries, dqueries))
    on_pg = args.search_backend == "postgres"
    samples = SAMPLE_QUERIES + distinct[:3] if on_pg else []  # the Postgres index is empty
    await breakdown(r.pool, r.ds.agent_ids, samples, reps=args.breakdown_reps)
    if args.explain and on_pg:
        await explain(r.pool, r.ds.agent_ids[7], SAMPLE_QUERIES[:3] + SAMPLE_QUERIES[4:])
    return reg


async def run(args: argparse.Namespace, env: Env) -> int:
    import asyncpg

    from registry.search import search_index_from_url

    started = time.perf_counter()
    log(f"bench root: {env.root}  (python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    pg_pid = await start_database(env)
    data_dir = env.root / "registry"
    data_dir.mkdir(parents=True, exist_ok=True)
    cenv = child_env(env, data_dir)
    if args.search_backend == "meili":
        cenv |= start_meili(env)
    token = await admin_token(cenv)
    ds = await load_data(args, env, cenv)
    pool = await asyncpg.create_pool(env.db_url, min_size=args.pool, max_size=args.pool)
    r: Run | None = None
    try:
        t_reindex = await reindex(cenv) if args.index_via == "reindex" else 0.0
        base, t_ready = await start_server(env, cenv, data_dir, args.workers, args.profile_server)
        t_index = await wait_indexed(pool, len(ds.agents), env.meili) + t_ready
        if args.index_via == "relay":
            log(f"search index ({args.search_backend}): {len(ds.agents)} docs, built by the "
                f"server's outbox relay {t_index:.1f}s after launch")  # fmt: skip
        else:
            t_index = t_reindex
        await pool.execute("ANALYZE")  # what autovacuum would have done by steady state
        assert env.server is not None
        watch = {"server": env.server.pid, **({"postgres": pg_pid} if pg_pid else {})}
        if env.meili is not None:
            watch["meilisearch"] = env.meili.pid
        target = HttpTarget(base, token, args.client_procs, watch)
        r = Run(args, ds, target, pool, CpuMeter(watch), list(ds.agent_ids))
        r.index = search_index_from_url(
            cenv.get("GREENLANG_SEARCH_URL", "postgres"), pool, cenv.get("GREENLANG_MEILI_KEY")
        )
        reg = await measure(r, token)
    finally:
        if r is not None and r.index is not None:
            await r.index.close()
        await pool.close()
    if args.profile_server:
        env.stop_server()  # flushes the profile
        print_profile(env.root / "server.prof")
    assert r is not None
    return summary(r, reg, started)


QUICK = {
    "agents": 200, "requests": 200, "warmup": 20, "serial": 30, "register": 3,
    "rate_get": 50.0, "rate_search": 20.0, "open_seconds": 1.0, "max_phase_seconds": 10.0,
    "breakdown_reps": 3,
}  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--agents", type=int, default=10_000, help="agents to bulk-load (10000)")
    p.add_argument("--concurrency", type=int, default=50, help="concurrent clients (50)")
    p.add_argument("--requests", type=int, default=5000, help="measured requests per phase")
    p.add_argument("--warmup", type=int, default=500, help="unmeasured requests before a phase")
    p.add_argument("--serial", type=int, default=300, help="requests of the concurrency-1 runs")
    p.add_argument("--register", type=int, default=20, help="agents registered over HTTP")
    p.add_argument("--pool", type=int, default=20, help="baseline asyncpg pool size (20)")
    p.add_argument("--workers", type=int, default=1, help="registry server processes (1)")
    p.add_argument("--client-procs", type=int, default=1, help="load-generator processes (1)")
    p.add_argument("--rate-get", type=float, default=1000.0,
                   help="open-loop GET phase at this many req/s (0: skip)")  # fmt: skip
    p.add_argument("--rate-search", type=float, default=100.0,
                   help="open-loop search phase at this many req/s (0: skip)")  # fmt: skip
    p.add_argument("--open-seconds", type=float, default=6.0, help="length of open-loop phases")
    p.add_argument("--max-phase-seconds", type=float, default=45.0, help="cap per phase")
    p.add_argument("--breakdown-reps", type=int, default=30, help="repeats per breakdown step")
    p.add_argument(
        "--index-via",
        choices=["relay", "reindex"],
        default="relay",
        help="build the search index with the server's outbox relay (one outbox row "
        "per agent) or with `greenlang-registry reindex`",
    )
    p.add_argument("--data-dir", help="parent for the temp dir (database, logs); default $TMPDIR")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (server log, profile)")
    p.add_argument(
        "--only",
        choices=["both", "get", "search"],
        default="both",
        help="measure only one of the two endpoints (and its baselines)",
    )
    p.add_argument(
        "--search-backend",
        choices=["postgres", "meili"],
        default="postgres",
        help="the registry's search index: its own PostgreSQL, or a Meilisearch the bench "
        "starts from ../shared/bin/meilisearch (GREENLANG_SEARCH_URL)",
    )
    p.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE plans")
    p.add_argument(
        "--profile-server",
        action="store_true",
        help="run the server under cProfile and print its hottest functions",
    )
    p.add_argument("--quick", action="store_true", help="smoke run, small counts (< 1 min)")
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            if getattr(args, key) == p.get_default(key):
                setattr(args, key, value)
    if args.concurrency < 1 or args.requests < 1 or args.client_procs < 1 or args.agents < 50:
        p.error("--concurrency, --requests, --client-procs must be >= 1 and --agents >= 50")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_in_env("glbench-", args.data_dir, args.keep, lambda env: run(args, env))


if __name__ == "__main__":
    raise SystemExit(main())
