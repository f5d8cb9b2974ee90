"""The registry bench's measured phases: HTTP load through bench.loadgen, in-process SQL
baselines, the API write path, and where the time goes (per-statement breakdown, EXPLAIN,
cProfile)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.loadgen import CpuMeter, LoadSpec, run_load
from bench.registry_dataset import make_spec, search_path, search_query
from bench.registry_report import Result, log


async def run_inprocess(
    name: str,
    concurrency: int,
    items: Sequence[Any],
    call: Callable[[Any], Awaitable[Any]],
    max_seconds: float,
    cpu: CpuMeter | None,
) -> Result:
    """Closed loop in this process: `concurrency` coroutines over one shared item iterator."""
    lat: list[float] = []
    errors = 0
    it = iter(items)
    if cpu:
        cpu.start()
    t0 = time.perf_counter()
    deadline = t0 + max_seconds

    async def client() -> None:
        nonlocal errors
        for item in it:
            if time.perf_counter() > deadline:
                return
            t = time.perf_counter()
            try:
                await call(item)
            except Exception:
                errors += 1
                continue
            lat.append((time.perf_counter() - t) * 1000)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    used = cpu.stop() if cpu else {}
    used.pop("server", None)  # idle during in-process phases
    return Result(name, concurrency, lat, wall, errors, cpu=used)


@dataclass(frozen=True)
class HttpTarget:
    """The server under load: where, with which token, and which processes to meter."""

    base: str
    token: str
    client_procs: int
    watch: dict[str, int]


async def run_http(
    target: HttpTarget,
    name: str,
    paths: list[str],
    concurrency: int,
    max_seconds: float,
    rate: float = 0.0,
    metered: bool = True,
) -> Result:
    """`paths` through bench.loadgen (closed loop, or open loop at `rate` req/s)."""
    spec = LoadSpec(
        url=target.base,
        paths=tuple(paths),
        headers=(("Authorization", f"Bearer {target.token}"),),
        concurrency=concurrency,
        processes=target.client_procs if concurrency > 1 else 1,
        duration=max_seconds,
        warmup=0.0,
        rate=rate,
    )
    out = await asyncio.to_thread(run_load, spec, target.watch if metered else None)
    used = {**out.server_cpu, "load-gen": out.client_cpu}
    statuses = {**out.statuses, **({-1: sum(out.errors.values())} if out.errors else {})}
    res = Result(name, concurrency, [x * 1000 for x in out.latencies], out.duration, out.failed)
    res.statuses, res.cpu = statuses, used
    if out.failed:
        res.note = f"failures: statuses {dict(out.statuses)}, errors {dict(out.errors)}"
    return res


async def register_via_api(base: str, token: str, count: int, seed: int) -> Result:
    import aiohttp

    rng = random.Random(seed + 1)
    lat: list[float] = []
    errors = 0
    statuses: Counter[int] = Counter()
    headers = {"Authorization": f"Bearer {token}"}
    t0 = time.perf_counter()
    async with aiohttp.ClientSession(base, headers=headers) as s:
        for i in range(count):
            spec = make_spec(rng, f"bench-api-agent-{i:03d}", "1.0.0")
            t = time.perf_counter()
            async with s.post("/api/v1/agents", json={"spec": spec}) as r:
                body = await r.read()
                statuses[r.status] += 1
            lat.append((time.perf_counter() - t) * 1000)
            if r.status != 201:
                errors += 1
                log(f"  registration {i} -> {r.status}: {body[:300]!r}")
    return Result(
        "API POST /agents (sequential)", 1, lat, time.perf_counter() - t0, errors, dict(statuses)
    )


async def sanity(base: str, token: str, agent_id: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession(base, headers={"Authorization": f"Bearer {token}"}) as s:
        async with s.get(f"/api/v1/agents/{agent_id}") as r:
            body = await r.json()
            assert r.status == 200 and body["agent_id"] == agent_id, (r.status, body)
        async with s.get(search_path({"query": "emissions", "page_size": 20})) as r:
            body = await r.json()
            assert r.status == 200 and body["total"] > 0 and len(body["agents"]) == 20, body
            log(
                f"  sanity: search 'emissions' -> total {body['total']}, 20 on the page, "
                f"{len(json.dumps(body)) // 1024} KiB JSON"
            )


class RecordingPool:
    """Stands in for an asyncpg pool and records (sql, args, ms) of every statement run through
    it, so the bench sees exactly what PostgresSearchIndex runs, whatever its internals are."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self.calls: list[tuple[str, tuple[Any, ...], float]] = []

    async def _timed(self, target: Any, method: str, sql: str, *args: Any) -> Any:
        t = time.perf_counter()
        out = await getattr(target, method)(sql, *args)
        self.calls.append((sql, args, (time.perf_counter() - t) * 1000))
        return out

    def __getattr__(self, method: str) -> Any:
        if method in ("fetch", "fetchrow", "fetchval", "execute", "executemany"):
            return lambda sql, *a: self._timed(self._pool, method, sql, *a)
        return getattr(self._pool, method)

    @contextlib.asynccontextmanager
    async def acquire(self) -> Any:
        async with self._pool.acquire() as conn:
            yield _RecordingConn(conn, self)


class _RecordingConn:
    def __init__(self, conn: Any, rec: RecordingPool) -> None:
        self._conn = conn
        self._rec = rec

    def __getattr__(self, method: str) -> Any:
        if method in ("fetch", "fetchrow", "fetchval", "execute", "executemany"):
            return lambda sql, *a: self._rec._timed(self._conn, method, sql, *a)
        return getattr(self._conn, method)


def sql_label(sql: str, width: int = 46) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 3] + "..."


async def breakdown(pool: Any, ids: list[str], queries: list[dict[str, Any]], reps: int) -> None:
    """Where the time of one request goes, at concurrency 1, in this process (median ms)."""
    from registry.catalog.models import SearchResult
    from registry.search.postgres import PostgresSearchIndex
    from registry.store.agents import ONE_ENTRY_SQL, fetch_entries, fetch_entry

    async def med(fn: Callable[[int], Awaitable[Any]]) -> float:
        times = []
        for i in range(reps):
            t = time.perf_counter()
            await fn(i)
            times.append((time.perf_counter() - t) * 1000)
        return statistics.median(times)

    log("\n== Breakdown at concurrency 1 (median ms, in the bench process) ==")
    async with pool.acquire() as conn:
        a = await med(lambda i: conn.fetch(ONE_ENTRY_SQL, ids[i]))
        e = await med(lambda i: fetch_entry(conn, ids[i]))
        entries = [await fetch_entry(conn, x) for x in ids[:reps]]

        async def dump(i: int) -> str:
            return entries[i].model_dump_json()

        j = await med(dump)
    log(
        f"  get: ONE_ENTRY_SQL {a:.2f} | fetch_entry (SQL + pydantic) {e:.2f}"
        f" | model_dump_json {j:.3f}"
    )

    async def one_query(params: dict[str, Any]) -> None:
        sq = search_query(params)
        rec = RecordingPool(pool)
        index = PostgresSearchIndex(rec)
        per_stmt: dict[str, list[float]] = {}
        for _ in range(reps):
            rec.calls.clear()
            hits = await index.search(sq)
            for k, (sql, _args, ms) in enumerate(rec.calls):
                per_stmt.setdefault(f"{k + 1}. {sql_label(sql)}", []).append(ms)
        t_index = await med(lambda i: index.search(sq))
        t_entries = await med(lambda i: fetch_entries(pool, hits.agent_ids))

        async def full(_: int) -> None:
            h = await index.search(sq)
            es = await fetch_entries(pool, h.agent_ids)
            SearchResult(
                total=h.total, page=1, page_size=20, agents=es, facets=h.facets
            ).model_dump_json()

        t_full = await med(full)
        log(
            f"  search {urlencode(params)}: total {hits.total}, {len(hits.agent_ids)} on the page"
            f" | index.search {t_index:.2f} + fetch_entries {t_entries:.2f}"
            f" | index+entries+json {t_full:.2f}"
        )
        for label, times in per_stmt.items():
            log(f"      {statistics.median(times):6.2f}  {label}")

    for params in queries:
        await one_query(params)
    log("  (per-statement lines: each SQL statement PostgresSearchIndex.search ran, in order)")


async def explain(pool: Any, agent_id: str, queries: list[dict[str, Any]]) -> None:
    from registry.search.postgres import PostgresSearchIndex
    from registry.store.agents import ONE_ENTRY_SQL

    async def show(title: str, sql: str, *args: Any, begin: str = "") -> None:
        """EXPLAIN under the settings the adapter gave the statement (`begin`: its BEGIN)."""
        async with pool.acquire() as conn:
            if begin:
                await conn.execute(begin)
            for _ in range(3):  # warm
                await conn.fetch(sql, *args)
            rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)
            if begin:
                await conn.execute("ROLLBACK")
            title += f" [{begin}]" if begin else ""
        log(f"\n-- {title}")
        for r in rows:
            line = r[0]  # typo candidates make literal arrays of hundreds of words
            log("   " + (line if len(line) <= 160 else line[:157] + "..."))

    log("\n== EXPLAIN ANALYZE ==")
    await show("ONE_ENTRY_SQL", ONE_ENTRY_SQL, agent_id)
    for params in queries:
        rec = RecordingPool(pool)
        await PostgresSearchIndex(rec).search(search_query(params))
        begin = ""
        for k, (sql, args, _ms) in enumerate(rec.calls):
            if sql.startswith(("BEGIN", "COMMIT")):  # the transaction the next statement ran in
                begin = sql if sql.startswith("BEGIN") else ""
                continue
            await show(f"search {urlencode(params)} statement {k + 1}", sql, *args, begin=begin)


def print_profile(path: Path, top: int = 35) -> None:
    import pstats

    if not path.exists():
        log(f"(no server profile at {path})")
        return
    log(f"\n== Server cProfile (top {top} by own time; {path}) ==")
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(top)
