"""End-to-end latency benchmark of the GreenLang Agent Registry API over real PostgreSQL.

    python bench/registry_bench.py [--agents 10000] [--concurrency 50] [--requests 5000]
                                   [--data-dir DIR] [--client-procs 1] [--explain]
                                   [--profile-server]

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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import multiprocessing as mp
import os
import queue
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

GET_TARGET_P95_MS = 10.0
SEARCH_TARGET_P95_MS = 25.0
REPO_ROOT = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------------------------
# Deterministic, realistic climate-compliance catalogue
# --------------------------------------------------------------------------------------------

SCOPES = [
    "CBAM", "CSRD", "ESRS", "EU-Taxonomy", "SFDR", "GHG-Protocol", "ISSB", "IFRS-S2", "TCFD",
    "SEC-Climate", "CDP", "SBTi", "EUDR", "CSDDD", "UK-SECR", "California-SB253", "TNFD", "PCAF",
]  # fmt: skip
TEAMS = [
    "cbam-team", "csrd-reporting", "scope3-analytics", "taxonomy-alignment", "supply-chain",
    "financed-emissions", "energy-data", "water-risk", "biodiversity", "disclosure-automation",
    "carbon-accounting", "climate-risk", "product-footprint", "esg-data-platform",
]  # fmt: skip
TYPES = [
    "calculator", "validator", "extractor", "reporter", "classifier", "forecaster",
    "reconciler", "auditor", "connector", "advisor",
]  # fmt: skip
SUBJECTS = [
    "Steel", "Cement", "Aluminium", "Fertiliser", "Hydrogen", "Electricity", "Scope 1",
    "Scope 2 Market-Based", "Scope 2 Location-Based", "Scope 3 Purchased Goods",
    "Scope 3 Business Travel", "Scope 3 Employee Commuting", "Upstream Transport",
    "Downstream Distribution", "Methane Leak", "Refrigerant", "Fleet Fuel", "Data Centre Energy",
    "Water Withdrawal", "Deforestation Risk", "Biodiversity Impact", "Double Materiality",
    "Transition Plan", "Physical Climate Risk", "Internal Carbon Price", "Supplier Survey",
    "Invoice", "Utility Bill", "Renewable Energy Certificate", "Green Bond", "Taxonomy Alignment",
    "Financed Emissions", "Product Carbon Footprint", "Waste Stream", "Heat Pump Retrofit",
    "Embedded Emissions", "Carbon Removal", "Land Use Change", "Shipping Fuel", "Aviation Fuel",
]  # fmt: skip
FUNCTIONS = {
    "calculator": ["Emissions Calculator", "Intensity Calculator", "Footprint Estimator"],
    "validator": ["Data Validator", "Evidence Checker", "Completeness Validator"],
    "extractor": ["Evidence Extractor", "Document Parser", "Activity Data Extractor"],
    "reporter": ["Disclosure Drafter", "Report Generator", "XBRL Tagger"],
    "classifier": ["Activity Classifier", "Eligibility Classifier", "Risk Classifier"],
    "forecaster": ["Trajectory Forecaster", "Decarbonisation Pathway Forecaster"],
    "reconciler": ["Ledger Reconciler", "Factor Reconciler", "Supplier Data Reconciler"],
    "auditor": ["Assurance Auditor", "Anomaly Detector", "Audit Trail Reviewer"],
    "connector": ["ERP Connector", "Utility API Connector", "Supplier Portal Connector"],
    "advisor": ["Gap Analyzer", "Abatement Advisor", "Target Setting Advisor"],
}
TAGS = [
    "scope-1", "scope-2", "scope-3", "ghg", "emissions", "energy", "supplier-data",
    "pdf-extraction", "llm", "estimation", "activity-data", "emission-factors", "audit-trail",
    "xbrl", "esg", "materiality", "finance", "logistics", "manufacturing", "agriculture",
    "real-estate", "utilities", "transport", "chemicals", "mining", "banking", "insurance",
    "retail", "ocr", "anomaly-detection", "forecasting", "benchmarking", "decarbonisation",
    "net-zero", "water", "nature", "lca", "carbon-credits",
]  # fmt: skip
METHODS = [
    "IPCC 2006 default factors", "DEFRA conversion factors", "supplier-specific primary data",
    "spend-based EEIO factors", "the GHG Protocol hybrid method", "ecoinvent LCA data",
    "EU CBAM default values", "metered interval data", "PCAF attribution factors",
]  # fmt: skip
SOURCES = [
    "ERP purchase ledgers", "supplier questionnaires", "utility invoices", "customs declarations",
    "fleet telematics", "smart meter exports", "sustainability reports", "bank loan books",
    "satellite land-cover data", "travel booking systems",
]  # fmt: skip
ISSUES = [
    "missing activity data", "unit mismatches", "outlier intensities", "double counting",
    "stale emission factors", "unverified supplier claims", "boundary gaps",
]  # fmt: skip
DELIVERABLES = [
    "the quarterly CBAM declaration", "ESRS E1 disclosures", "the annual CDP response",
    "limited assurance review", "the board climate dashboard", "SFDR PAI statements",
    "the SBTi target submission", "taxonomy KPI tables",
]  # fmt: skip

# Query mix for search: (weight, params). Plain words, multi-word, typos, prefixes, filters.
SEARCH_MIX: list[tuple[int, dict[str, Any]]] = [
    (6, {"query": "emissions"}), (4, {"query": "cbam"}), (3, {"query": "steel"}),
    (3, {"query": "supplier"}), (3, {"query": "methane"}), (3, {"query": "taxonomy"}),
    (3, {"query": "disclosure"}), (2, {"query": "cement"}), (2, {"query": "hydrogen"}),
    (2, {"query": "invoice"}), (2, {"query": "water"}), (2, {"query": "biodiversity"}),
    (2, {"query": "refrigerant"}), (2, {"query": "materiality"}), (2, {"query": "xbrl"}),
    (2, {"query": "forecaster"}), (2, {"query": "scope 3 emissions"}),
    (2, {"query": "steel emissions calculator"}), (2, {"query": "supplier data"}),
    (2, {"query": "double materiality"}), (1, {"query": "green bond"}),
    (2, {"query": "emisions"}), (1, {"query": "methan"}), (1, {"query": "taxonmy"}),
    (1, {"query": "cment"}), (2, {"query": "decarb"}), (1, {"query": "calc"}),
    (1, {"query": "disclos"}),
    (3, {"query": "steel", "regulatory_scope": "CBAM"}),
    (2, {"query": "materiality", "regulatory_scope": "CSRD"}),
    (2, {"query": "emissions", "type": "calculator"}),
    (2, {"query": "scope", "status": "active"}),
    (2, {"query": "supplier", "tags": "scope-3"}),
    (1, {"query": "energy", "owner_team": "energy-data"}),
    (1, {"regulatory_scope": "SFDR"}),
    (1, {"regulatory_scope": "CBAM", "status": "active"}),
]  # fmt: skip


def slug(text: str) -> str:
    out = "".join(c if c.isalnum() else "-" for c in text.lower())
    return "-".join(p for p in out.split("-") if p)


@dataclass
class Dataset:
    agents: list[tuple[Any, ...]] = field(default_factory=list)
    versions: list[tuple[Any, ...]] = field(default_factory=list)
    certificates: list[tuple[Any, ...]] = field(default_factory=list)
    agent_ids: list[str] = field(default_factory=list)


AGENT_COLS = [
    "agent_id", "name", "description", "owner_team", "type", "regulatory_scope", "tags",
    "current_version", "created_at", "updated_at", "deleted_at", "deployment_count", "usage_stats",
]  # fmt: skip
VERSION_COLS = [
    "agent_id", "version", "status", "spec", "spec_hash", "changelog", "status_reason",
    "created_at", "created_by", "updated_at", "row_version",
]  # fmt: skip
CERT_COLS = [
    "certificate_id", "agent_id", "version", "issuer", "issued_at", "expires_at", "issued_by",
]  # fmt: skip


def spec_hash(spec: dict[str, Any]) -> str:
    """Same canonical form as registry.spec.AgentSpec.spec_hash (checked on a sample)."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def make_spec(rng: random.Random, agent_id: str, version: str) -> dict[str, Any]:
    """One realistic, valid agent spec (used for the HTTP registrations)."""
    kind = rng.choice(TYPES)
    subject = rng.choice(SUBJECTS)
    scopes = rng.sample(SCOPES, rng.randint(1, 3))
    return {
        "agent_id": agent_id,
        "name": f"{scopes[0]} {subject} {rng.choice(FUNCTIONS[kind])}",
        "version": version,
        "description": describe(rng, subject, scopes[0]),
        "type": kind,
        "metadata": {
            "team": rng.choice(TEAMS),
            "regulatory_scope": scopes,
            "tags": rng.sample(TAGS, rng.randint(2, 5)),
            "changelog": f"release {version}",
        },
    }


def describe(rng: random.Random, subject: str, scope: str) -> str:
    return (
        f"Computes {subject.lower()} figures for {scope} reporting using {rng.choice(METHODS)}. "
        f"Pulls {rng.choice(SOURCES)}, flags {rng.choice(ISSUES)} and prepares "
        f"{rng.choice(DELIVERABLES)}."
    )


def generate(n: int, seed: int = 42) -> Dataset:
    rng = random.Random(seed)
    ds = Dataset()
    base = datetime(2024, 1, 1, tzinfo=UTC)
    now = datetime.now(UTC)
    seen: set[str] = set()
    for i in range(n):
        kind = rng.choice(TYPES)
        subject = rng.choice(SUBJECTS)
        scopes = rng.sample(SCOPES, rng.choices([1, 2, 3], [5, 3, 2])[0])
        function = rng.choice(FUNCTIONS[kind])
        name = f"{scopes[0]} {subject} {function}"
        stem = slug(f"{scopes[0]} {subject} {kind}")[:50].rstrip("-")
        agent_id = f"{stem}-{i:05d}"
        assert agent_id not in seen
        seen.add(agent_id)
        team = rng.choice(TEAMS)
        tags = rng.sample(TAGS, rng.randint(2, 5))
        description = describe(rng, subject, scopes[0])
        created = base + timedelta(minutes=rng.randint(0, 700 * 24 * 60))
        k = rng.choices([1, 2, 3], [5, 3, 2])[0]
        major = rng.randint(0, 3)
        versions, minor = [], 0
        for _ in range(k):
            minor += rng.randint(0, 3)
            versions.append(f"{major}.{minor}.{rng.randint(0, 5)}")
            minor += 1
        statuses = [rng.choice(["deprecated", "retired", "deprecated"]) for _ in range(k - 1)]
        last = rng.choices(["active", "draft", "deprecated", "retired"], [70, 15, 10, 5])[0]
        if last == "draft" and k > 1:
            statuses[-1] = "active"
        statuses.append(last)
        deleted = rng.random() < 0.01
        if deleted:
            statuses = ["retired"] * k
        active = [v for v, s in zip(versions, statuses, strict=True) if s == "active"]
        current = active[-1] if active else versions[-1]
        updated = created
        for j, (version, status) in enumerate(zip(versions, statuses, strict=True)):
            at = created + timedelta(days=30 * j, minutes=rng.randint(0, 1000))
            updated = max(updated, at)
            spec = {
                "agent_id": agent_id,
                "name": name,
                "version": version,
                "description": description,
                "type": kind,
                "metadata": {
                    "team": team,
                    "regulatory_scope": scopes,
                    "tags": tags,
                    "changelog": f"release {version}",
                },
            }
            ds.versions.append(
                (
                    agent_id,
                    version,
                    status,
                    json.dumps(spec),
                    spec_hash(spec),
                    f"release {version}",
                    None if status in ("draft", "active") else "superseded",
                    at,
                    f"{team}-ci (publisher)",
                    at,
                    1 + (status != "draft"),
                )
            )
            if status == "active" and rng.random() < 0.6:
                ds.certificates.append(
                    (
                        f"CERT-{agent_id.upper()}-{version}",
                        agent_id,
                        version,
                        rng.choice(["TUV SUD", "Bureau Veritas", "DNV", "SGS"]),
                        at,
                        now + timedelta(days=rng.randint(-60, 700)),
                        "approver-1 (approver)",
                    )
                )
        usage = {"invocations_30d": rng.randint(0, 50_000), "p95_ms": rng.randint(40, 4000)}
        ds.agents.append(
            (
                agent_id,
                name,
                description,
                team,
                kind,
                scopes,
                tags,
                current,
                created,
                updated,
                updated if deleted else None,
                rng.randint(0, 40),
                json.dumps(usage),
            )
        )
        ds.agent_ids.append(agent_id)
    return ds


def check_specs(ds: Dataset, sample: int = 200) -> None:
    """The generated specs are valid for the product's own validator and hash alike."""
    from registry.catalog.spec import validate_spec

    for row in ds.versions[:sample]:
        spec = validate_spec(json.loads(row[3]))
        assert spec.spec_hash() == row[4], "spec_hash differs from AgentSpec.spec_hash"


def search_requests(rng: random.Random, n: int) -> list[dict[str, Any]]:
    weights = [w for w, _ in SEARCH_MIX]
    return [dict(p, page_size=20) for p in rng.choices([p for _, p in SEARCH_MIX], weights, k=n)]


def search_path(params: dict[str, Any]) -> str:
    return "/api/v1/agents/search?" + urlencode(params)


def search_query(params: dict[str, Any]) -> Any:
    from registry.catalog.models import SearchQuery

    raw = dict(params)
    for key in ("tags", "regulatory_scope"):
        if key in raw:
            raw[key] = raw[key].split(",")
    return SearchQuery.model_validate(raw)


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def pct(sorted_ms: Sequence[float], p: float) -> float:
    if not sorted_ms:
        return math.nan
    k = (len(sorted_ms) - 1) * p / 100
    lo = math.floor(k)
    hi = min(lo + 1, len(sorted_ms) - 1)
    return sorted_ms[lo] + (sorted_ms[hi] - sorted_ms[lo]) * (k - lo)


@dataclass
class Result:
    name: str
    concurrency: int
    lat_ms: list[float]
    wall_s: float
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # seconds of CPU per process group
    note: str = ""

    def __post_init__(self) -> None:
        self.lat_ms = sorted(self.lat_ms)

    @property
    def n(self) -> int:
        return len(self.lat_ms)

    @property
    def rps(self) -> float:
        return self.n / self.wall_s if self.wall_s > 0 else math.nan

    def p(self, q: float) -> float:
        return pct(self.lat_ms, q)

    def row(self) -> str:
        return (
            f"{self.name:<34} {self.n:>6} {self.concurrency:>4} {self.rps:>8.0f}"
            f" {self.p(50):>8.2f} {self.p(95):>8.2f} {self.p(99):>8.2f} {self.lat_ms[-1]:>8.1f}"
            f" {self.errors:>5}"
            if self.lat_ms
            else f"{self.name:<34} no samples"
        )

    def cpu_line(self) -> str:
        if not self.cpu or self.wall_s <= 0:
            return ""
        parts = [f"{k} {100 * v / self.wall_s:.0f}%" for k, v in self.cpu.items()]
        return f"    cpu (100% = one core): {', '.join(parts)}"


HEADER = (
    f"{'phase':<34} {'n':>6} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}"
    f" {'p99 ms':>8} {'max ms':>8} {'err':>5}"
)


def log(msg: str = "") -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------------------------
# HTTP load-generator processes (spawned: own interpreter, own GIL, no forked event loop)
# --------------------------------------------------------------------------------------------


async def _http_load(job: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    headers = {"Authorization": f"Bearer {job['token']}"}
    connector = aiohttp.TCPConnector(limit=job["concurrency"], keepalive_timeout=60)
    lat: list[float] = []
    statuses: Counter[int] = Counter()
    sample_error: str | None = None
    async with aiohttp.ClientSession(job["base"], connector=connector, headers=headers) as s:
        delay = job["start_at"] - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        cpu0 = time.process_time()
        deadline = time.perf_counter() + job["max_seconds"]
        paths = iter(job["paths"])

        async def one(path: str, t: float) -> None:
            """One request; latency counts from `t` (its send time, or for open loop its
            scheduled time, so a stalled server cannot hide queueing: no coordinated omission)."""
            nonlocal sample_error
            try:
                async with s.get(path) as r:
                    body = await r.read()
                    status = r.status
            except aiohttp.ClientError as exc:
                status, body = -1, str(exc).encode()
            lat.append((time.perf_counter() - t) * 1000)
            statuses[status] += 1
            if status != 200 and sample_error is None:
                sample_error = f"{status} {path}: {body[:300]!r}"

        async def client() -> None:
            for path in paths:  # one shared iterator: every request is sent exactly once
                if time.perf_counter() > deadline:
                    return
                await one(path, time.perf_counter())

        async def scheduled(path: str, at: float) -> None:
            await asyncio.sleep(at - time.perf_counter())
            if at <= deadline:
                await one(path, at)

        if job.get("rate"):  # open loop: fixed arrival rate, at most `concurrency` connections
            t0, gap = time.perf_counter(), 1.0 / job["rate"]
            await asyncio.gather(*(scheduled(p, t0 + i * gap) for i, p in enumerate(paths)))
        else:  # closed loop: `concurrency` clients, each sends its next request on a reply
            await asyncio.gather(*(client() for _ in range(job["concurrency"])))
        end = time.time()
        cpu = time.process_time() - cpu0
    return {"lat": lat, "statuses": dict(statuses), "end": end, "cpu": cpu, "error": sample_error}


def _worker_main(jobs: Any, results: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    while (job := jobs.get()) is not None:
        try:
            results.put(asyncio.run(_http_load(job)))
        except Exception as exc:  # reported by the parent
            results.put({"crash": repr(exc)})


class LoadWorkers:
    def __init__(self, count: int) -> None:
        ctx = mp.get_context("spawn")
        self.jobs = [ctx.Queue() for _ in range(count)]
        self.results = ctx.Queue()
        self.procs = [
            ctx.Process(target=_worker_main, args=(q, self.results), daemon=True) for q in self.jobs
        ]
        for p in self.procs:
            p.start()

    async def run(self, job: dict[str, Any], paths: list[str]) -> list[dict[str, Any]]:
        n = len(self.procs)
        c = job["concurrency"]
        for i, q in enumerate(self.jobs):
            per_proc = max(1, c // n + (i < c % n))
            q.put({**job, "paths": paths[i::n], "concurrency": per_proc})
        out: list[dict[str, Any]] = []
        while len(out) < n:
            try:
                out.append(self.results.get_nowait())
            except queue.Empty:
                if any(not p.is_alive() for p in self.procs):
                    raise RuntimeError("a load-generator process died") from None
                await asyncio.sleep(0.05)
        crashes = [r["crash"] for r in out if "crash" in r]
        if crashes:
            raise RuntimeError(f"load generator failed: {crashes[0]}")
        return out

    def close(self) -> None:
        for q in self.jobs:
            with contextlib.suppress(Exception):
                q.put(None)
        for p in self.procs:
            p.join(timeout=3)
            if p.is_alive():
                p.terminate()
                p.join(timeout=3)


# --------------------------------------------------------------------------------------------
# Process / resource handling
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"<no log: {exc}>"


def spawn(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start a long-running child in its own session: Ctrl-C reaches the bench only, which
    then stops the child in order."""
    with log_path.open("wb") as out:
        return subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def run_cli(
    args: list[str], env: dict[str, str], limit_s: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli(), *args], env=env, capture_output=True, text=True, timeout=limit_s, check=False
    )


def cli() -> list[str]:
    exe = shutil.which("greenlang-registry")
    return [exe] if exe else [sys.executable, "-m", "registry.cli.main"]


@dataclass
class Env:
    """Everything started by the bench; close() undoes it in reverse order, idempotently."""

    root: Path
    keep: bool = False
    pg_handle: Any = None
    admin_url: str | None = None  # maintenance connection to the server
    db_name: str | None = None
    drop_db: bool = False
    db_url: str = ""
    server: subprocess.Popen[bytes] | None = None
    server_log: Path | None = None
    workers: LoadWorkers | None = None
    closed: bool = False

    def stop_server(self) -> None:
        proc, self.server = self.server, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        steps: list[tuple[str, Callable[[], None]]] = [
            ("load workers", lambda: self.workers.close() if self.workers else None),
            ("server", self.stop_server),
            ("database", self._drop_database),
            ("postgres", lambda: self.pg_handle.cleanup() if self.pg_handle else None),
            ("temp dir", self._remove_root),
        ]
        for what, step in steps:
            try:
                step()
            except BaseException as exc:  # keep tearing down the rest
                print(f"cleanup of {what} failed: {exc!r}", file=sys.stderr)

    def _drop_database(self) -> None:
        if not (self.drop_db and self.admin_url and self.db_name):
            return
        import asyncpg

        async def drop() -> None:
            conn = await asyncpg.connect(self.admin_url)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            finally:
                await conn.close()

        asyncio.run(drop())

    def _remove_root(self) -> None:
        if self.keep:
            log(f"kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)


class CpuMeter:
    """CPU seconds used by the server process and the PostgreSQL processes (psutil)."""

    def __init__(self, server_pid: int, pg_pid: int | None) -> None:
        import psutil

        self._psutil = psutil
        self.server = psutil.Process(server_pid)
        self.pg = psutil.Process(pg_pid) if pg_pid else None

    def _total(self, procs: list[Any]) -> dict[int, float]:
        out = {}
        for p in procs:
            with contextlib.suppress(self._psutil.Error):
                t = p.cpu_times()
                out[p.pid] = t.user + t.system
        return out

    def snapshot(self) -> dict[str, dict[int, float]]:
        snap = {"server": self._total([self.server])}
        if self.pg is not None:
            with contextlib.suppress(self._psutil.Error):
                snap["postgres"] = self._total([self.pg, *self.pg.children(recursive=True)])
        snap["bench"] = {os.getpid(): time.process_time()}
        return snap

    @staticmethod
    def delta(a: dict[str, dict[int, float]], b: dict[str, dict[int, float]]) -> dict[str, float]:
        # processes that appeared during the phase count from zero
        return {k: sum(v - a.get(k, {}).get(pid, 0.0) for pid, v in b[k].items()) for k in b}


# --------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------


async def bulk_load(db_url: str, ds: Dataset, with_outbox: bool) -> float:
    import asyncpg

    t0 = time.perf_counter()
    conn = await asyncpg.connect(db_url)
    try:
        async with conn.transaction():
            await conn.copy_records_to_table("agents", records=ds.agents, columns=AGENT_COLS)
            await conn.copy_records_to_table(
                "agent_versions", records=ds.versions, columns=VERSION_COLS
            )
            await conn.copy_records_to_table(
                "certificates", records=ds.certificates, columns=CERT_COLS
            )
            if with_outbox:
                await conn.copy_records_to_table(
                    "search_outbox", records=[(a,) for a in ds.agent_ids], columns=["agent_id"]
                )
    finally:
        await conn.close()
    return time.perf_counter() - t0


def wait_http(url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server not healthy after {timeout:.0f}s:\n{tail(log_path)}")


async def wait_until(
    probe: Callable[[], Awaitable[bool]], limit_s: float, what: str, interval: float = 0.05
) -> float:
    t0 = time.perf_counter()
    while not await probe():
        if time.perf_counter() - t0 > limit_s:
            raise RuntimeError(f"timed out after {limit_s:.0f}s waiting for {what}")
        await asyncio.sleep(interval)
    return time.perf_counter() - t0


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
    snap0 = cpu.snapshot() if cpu else None
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
            lat.append((time.perf_counter() - t) * 1000)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    used = CpuMeter.delta(snap0, cpu.snapshot()) if cpu and snap0 else {}
    used.pop("server", None)  # idle during in-process phases
    return Result(name, concurrency, lat, wall, errors, cpu=used)


async def run_http(
    env: Env,
    name: str,
    base: str,
    token: str,
    paths: list[str],
    concurrency: int,
    max_seconds: float,
    cpu: CpuMeter | None,
    rate: float = 0.0,
) -> Result:
    assert env.workers is not None
    n_procs = len(env.workers.procs) if concurrency > 1 else 1
    job = {"base": base, "token": token, "concurrency": concurrency, "max_seconds": max_seconds}
    if rate:
        job["rate"] = rate / n_procs
    workers = env.workers
    if n_procs == 1 and len(workers.procs) > 1:
        workers = _FirstWorker(workers)
    job["start_at"] = time.time() + 0.2
    snap0 = cpu.snapshot() if cpu else None
    out = await workers.run(job, paths)
    snap1 = cpu.snapshot() if cpu else None
    wall = max(r["end"] for r in out) - job["start_at"]
    lat = [x for r in out for x in r["lat"]]
    statuses: Counter[int] = Counter()
    for r in out:
        statuses.update({int(k): v for k, v in r["statuses"].items()})
    errors = sum(v for k, v in statuses.items() if k != 200)
    used = CpuMeter.delta(snap0, snap1) if snap0 and snap1 else {}
    used.pop("bench", None)
    used["load-gen"] = sum(r["cpu"] for r in out)
    res = Result(name, concurrency, lat, wall, errors, dict(statuses), used)
    bad = next((r["error"] for r in out if r["error"]), None)
    if bad:
        res.note = f"first error: {bad}"
    return res


class _FirstWorker:
    """View of a LoadWorkers pool that uses only its first process (for concurrency-1 runs)."""

    def __init__(self, w: LoadWorkers) -> None:
        self.w = w
        self.procs = w.procs[:1]

    async def run(self, job: dict[str, Any], paths: list[str]) -> list[dict[str, Any]]:
        self.w.jobs[0].put({**job, "paths": paths})
        while True:
            try:
                r = self.w.results.get_nowait()
                break
            except queue.Empty:
                await asyncio.sleep(0.05)
        if "crash" in r:
            raise RuntimeError(f"load generator failed: {r['crash']}")
        return [r]


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

    async def show(title: str, sql: str, *args: Any) -> None:
        async with pool.acquire() as conn:
            for _ in range(3):  # warm
                await conn.fetch(sql, *args)
            rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)
        log(f"\n-- {title}")
        for r in rows:
            line = r[0]  # typo candidates make literal arrays of hundreds of words
            log("   " + (line if len(line) <= 160 else line[:157] + "..."))

    log("\n== EXPLAIN ANALYZE ==")
    await show("ONE_ENTRY_SQL", ONE_ENTRY_SQL, agent_id)
    for params in queries:
        rec = RecordingPool(pool)
        await PostgresSearchIndex(rec).search(search_query(params))
        for k, (sql, args, _ms) in enumerate(rec.calls):
            await show(f"search {urlencode(params)} statement {k + 1}", sql, *args)


def print_profile(path: Path, top: int = 35) -> None:
    import pstats

    if not path.exists():
        log(f"(no server profile at {path})")
        return
    log(f"\n== Server cProfile (top {top} by own time; {path}) ==")
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(top)


async def run(args: argparse.Namespace, env: Env) -> int:
    import asyncpg

    from registry.search.postgres import PostgresSearchIndex
    from registry.store.agents import ONE_ENTRY_SQL
    from registry.store.embedded import start_embedded_postgres

    t_all = time.perf_counter()
    rng = random.Random(args.seed)
    log(f"bench root: {env.root}  (python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")

    # -- 1. PostgreSQL, database, token, server -------------------------------------------------
    t = time.perf_counter()
    external = os.environ.get("GREENLANG_DATABASE_URL")
    if external:
        env.admin_url = external
        env.db_name = f"glbench_{secrets.token_hex(4)}"
        env.drop_db = True
    else:
        env.admin_url, env.pg_handle = start_embedded_postgres(env.root / "pg", cleanup="delete")
        env.db_name = "glbench"
    admin = await asyncpg.connect(env.admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{env.db_name}"')
        pg_version = await admin.fetchval("SHOW server_version")
        settings = await admin.fetch(
            "SELECT name, setting, unit FROM pg_settings WHERE name IN "
            "('shared_buffers', 'max_connections', 'synchronous_commit', 'fsync', 'jit')"
        )
    finally:
        await admin.close()
    env.db_url = with_database(env.admin_url, env.db_name)
    pg_pid = env.pg_handle.get_pid() if env.pg_handle else None
    log(
        f"PostgreSQL {pg_version} ({'external' if external else 'embedded'}) ready in "
        f"{time.perf_counter() - t:.1f}s; "
        + ", ".join(f"{r['name']}={r['setting']}{r['unit'] or ''}" for r in settings)
    )

    data_dir = env.root / "registry"
    data_dir.mkdir(parents=True, exist_ok=True)
    child_env = {
        **os.environ,
        "GREENLANG_DATABASE_URL": env.db_url,
        "GREENLANG_DATA_DIR": str(data_dir),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    child_env.pop("GREENLANG_SEARCH_URL", None)  # the Postgres index is what we measure
    t = time.perf_counter()
    created = await asyncio.to_thread(
        run_cli, ["token", "create", "--role", "admin", "--name", "bench-admin"], child_env, 120
    )
    if created.returncode != 0:
        raise RuntimeError(f"token create failed ({created.returncode}):\n{created.stderr}")
    token = created.stdout.strip().splitlines()[-1]
    log(
        f"migrated + admin token via `greenlang-registry token create` in "
        f"{time.perf_counter() - t:.1f}s"
    )

    # -- 2. bulk data -------------------------------------------------------------------------
    t = time.perf_counter()
    ds = generate(args.agents, args.seed)
    check_specs(ds)
    t_gen = time.perf_counter() - t
    with_outbox = args.index_via == "relay"
    t_copy = await bulk_load(env.db_url, ds, with_outbox)
    log(
        f"generated {len(ds.agents)} agents / {len(ds.versions)} versions / "
        f"{len(ds.certificates)} certificates in {t_gen:.1f}s; COPY into PostgreSQL "
        f"{t_copy:.2f}s"
    )

    pool = await asyncpg.create_pool(env.db_url, min_size=args.pool, max_size=args.pool)
    try:
        t_reindex = 0.0
        if args.index_via == "reindex":
            t = time.perf_counter()
            out = await asyncio.to_thread(run_cli, ["reindex"], child_env, 300)
            if out.returncode != 0:
                raise RuntimeError(f"reindex failed:\n{out.stderr}\n{out.stdout}")
            t_reindex = time.perf_counter() - t
            log(
                f"`greenlang-registry reindex`: {out.stdout.strip().splitlines()[-1]} "
                f"in {t_reindex:.1f}s"
            )

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env.server_log = env.root / "server.log"
        serve_args = [
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ]
        cmd = [*cli(), "serve", *serve_args]
        prof_path = env.root / "server.prof"
        if args.profile_server:
            cmd = [
                sys.executable,
                "-m",
                "cProfile",
                "-o",
                str(prof_path),
                "-m",
                "registry.cli.main",
                "serve",
                *serve_args,
            ]
        t = time.perf_counter()
        env.server = spawn(cmd, child_env, env.server_log)
        await asyncio.to_thread(wait_http, f"{base}/healthz", env.server, env.server_log, 60)
        t_ready = time.perf_counter() - t
        log(
            f"server pid {env.server.pid} healthy on {base} after {t_ready:.1f}s"
            + (" (under cProfile)" if args.profile_server else "")
        )

        async def indexed() -> bool:
            left = await pool.fetchval("SELECT count(*) FROM search_outbox")
            docs = await pool.fetchval("SELECT count(*) FROM search_documents")
            return left == 0 and docs >= len(ds.agents)

        t_index = await wait_until(indexed, 240, "the search index") + t_ready
        if not with_outbox:
            t_index = t_reindex
        n_terms = await pool.fetchval("SELECT count(*) FROM search_terms")
        if with_outbox:
            log(
                f"search index: {len(ds.agents)} docs, {n_terms} terms, built by the server's "
                f"outbox relay {t_index:.1f}s after launch"
            )
        t = time.perf_counter()
        await pool.execute("ANALYZE")  # what autovacuum would have done by steady state
        t_load = t_gen + t_copy + t_index + time.perf_counter() - t
        log(f"total load time (generate + COPY + index + ANALYZE): {t_load:.1f}s")

        env.workers = LoadWorkers(args.client_procs)
        cpu = CpuMeter(env.server.pid, pg_pid)
        await sanity(base, token, ds.agent_ids[0])

        reg = await register_via_api(base, token, args.register, args.seed)
        log(
            f"HTTP registration: {reg.n} agents, p50 {reg.p(50):.1f} ms, "
            f"p95 {reg.p(95):.1f} ms, max {reg.lat_ms[-1]:.1f} ms, errors {reg.errors}"
        )
        all_ids = ds.agent_ids + [f"bench-api-agent-{i:03d}" for i in range(args.register)]

        # -- 3. HTTP load -------------------------------------------------------------------------
        n, c, cap = args.requests, args.concurrency, args.max_phase_seconds
        get_paths = [f"/api/v1/agents/{rng.choice(all_ids)}" for _ in range(n + args.warmup)]
        search_params = search_requests(rng, n + args.warmup)
        s_paths = [search_path(p) for p in search_params]
        results: list[Result] = []

        async def http(name: str, paths: list[str], conc: int, rate: float = 0.0) -> Result:
            if args.warmup and conc > 1 and not rate:
                await run_http(env, "warm-up", base, token, paths[: args.warmup], conc, cap, None)
                paths = paths[args.warmup :]
            res = await run_http(env, name, base, token, paths, conc, cap, cpu, rate)
            results.append(res)
            log(res.row())
            log(res.cpu_line())
            if res.note:
                log(f"    {res.note}")
            return res

        log(
            f"\n== Load: {n} requests per phase, warm-up {args.warmup}, cap {cap:.0f}s per phase,"
            f" {args.client_procs} load-generator process(es) =="
        )
        log(HEADER)
        kinds = ["get", "search"] if args.only == "both" else [args.only]
        api_paths = {"get": get_paths, "search": s_paths}
        label = {"get": "GET agent", "search": "search"}
        route = {"get": "API GET /agents/{id}", "search": "API GET /agents/search"}
        target = {"get": GET_TARGET_P95_MS, "search": SEARCH_TARGET_P95_MS}
        rate = {"get": args.rate_get, "search": args.rate_search}
        api: dict[str, Result] = {}
        api1: dict[str, Result] = {}
        open_loop: list[tuple[str, Result, float]] = []
        for k in kinds:
            api[k] = await http(route[k], api_paths[k], c)
        for k in kinds:
            api1[k] = await http(route[k], api_paths[k][: args.serial], 1)
        for k in kinds:
            if rate[k] > 0:
                count = min(len(api_paths[k]), max(1, int(rate[k] * args.open_seconds)))
                name = f"API {label[k]} open loop {rate[k]:g}/s"
                res = await http(name, api_paths[k][-count:], c, rate[k])
                open_loop.append((f"{label[k]} p95 @ {rate[k]:g} req/s open loop", res, target[k]))

        # -- 4. baselines (same process, same concurrency, pool of --pool connections) ------------
        index = PostgresSearchIndex(pool)
        from registry.store.agents import fetch_entries

        async def db_get(agent_id: str) -> None:
            await pool.fetchrow(ONE_ENTRY_SQL, agent_id)

        async def db_row(agent_id: str) -> None:
            await pool.fetchrow("SELECT * FROM agents WHERE agent_id = $1", agent_id)

        async def db_search(sq: Any) -> None:
            await index.search(sq)

        async def db_search_entries(sq: Any) -> None:
            hits = await index.search(sq)
            await fetch_entries(pool, hits.agent_ids)

        get_ids = [p.rsplit("/", 1)[1] for p in get_paths[args.warmup :]]
        queries = [search_query(p) for p in search_params]
        baselines: dict[str, list[tuple[str, Sequence[Any], Callable[[Any], Awaitable[None]]]]] = {
            "get": [
                ("DB get: SELECT * FROM agents", get_ids, db_row),
                ("DB get: ONE_ENTRY_SQL", get_ids, db_get),
            ],
            "search": [
                ("DB PostgresSearchIndex.search", queries[args.warmup :], db_search),
                ("DB search + fetch_entries", queries[args.warmup :], db_search_entries),
            ],
        }
        db: dict[str, Result] = {}
        for k in kinds:
            for name, items, fn in baselines[k]:
                await run_inprocess("warm-up", c, items[: args.warmup], fn, cap, None)
                res = await run_inprocess(name, c, items, fn, cap, cpu)
                db[name] = res
                results.append(res)
                log(res.row())
                log(res.cpu_line())
        for k in kinds:
            name, items, fn = baselines[k][-1 if k == "get" else 0]
            res = await run_inprocess(name, 1, items[: args.serial], fn, cap, None)
            db[name + " c=1"] = res
            results.append(res)
            log(res.row())

        # -- 5. where the time goes ----------------------------------------------------------------
        sample_queries = [
            {"query": "emissions", "page_size": 20},
            {"query": "emisions", "page_size": 20},
            {"query": "steel emissions calculator", "page_size": 20},
            {"query": "decarb", "page_size": 20},
            {"query": "steel", "regulatory_scope": "CBAM", "page_size": 20},
            {"regulatory_scope": "SFDR", "page_size": 20},
        ]
        await breakdown(pool, ds.agent_ids, sample_queries, reps=30)
        if args.explain:
            await explain(pool, ds.agent_ids[7], sample_queries[:3] + sample_queries[4:])
    finally:
        await pool.close()

    if args.profile_server:
        env.stop_server()  # flushes the profile
        print_profile(prof_path)

    # -- summary ----------------------------------------------------------------------------------
    def ratio(a: float, b: float) -> str:
        return f"{a / b:.1f}x" if b > 0 else "n/a"

    log("\n" + "=" * 100)
    log(
        f"SUMMARY  agents={len(all_ids)}  concurrency={c}  requests/phase={n}  "
        f"client procs={args.client_procs}  CPUs={os.cpu_count()}"
        + ("  [server under cProfile: latencies inflated]" if args.profile_server else "")
    )
    log(HEADER)
    for res in results:
        log(res.row())
    log("")
    log(f"{'check':<44} {'measured':>10} {'target':>8}  verdict")
    checks = [(f"{label[k]} p95 @ {c} clients", api[k], target[k]) for k in kinds]
    checks += [(f"{label[k]} p95 @ 1 client (service time)", api1[k], target[k]) for k in kinds]
    for name, res, limit in [*checks, *open_loop]:
        verdict = "PASS" if res.p(95) < limit and res.errors == 0 else "MISS"
        log(f"{name:<44} {res.p(95):>8.2f}ms {limit:>6.0f}ms  {verdict}")
    log("")
    if "get" in api:
        base, row = db["DB get: ONE_ENTRY_SQL"], db["DB get: SELECT * FROM agents"]
        base1 = db["DB get: ONE_ENTRY_SQL c=1"]
        log(
            f"API/baseline  get    p50 {ratio(api['get'].p(50), base.p(50))}, "
            f"p95 {ratio(api['get'].p(95), base.p(95))}, "
            f"throughput {base.rps:.0f} -> {api['get'].rps:.0f} req/s "
            f"(c=1 p50 {ratio(api1['get'].p(50), base1.p(50))}; "
            f"vs 1-row SELECT p95 {ratio(api['get'].p(95), row.p(95))})"
        )
    if "search" in api:
        base, full = db["DB PostgresSearchIndex.search"], db["DB search + fetch_entries"]
        base1 = db["DB PostgresSearchIndex.search c=1"]
        log(
            f"API/baseline  search p50 {ratio(api['search'].p(50), base.p(50))}, "
            f"p95 {ratio(api['search'].p(95), base.p(95))}, "
            f"throughput {base.rps:.0f} -> {api['search'].rps:.0f} req/s "
            f"(vs search+entries p95 {ratio(api['search'].p(95), full.p(95))}; "
            f"c=1 p50 {ratio(api1['search'].p(50), base1.p(50))})"
        )
    log(
        f"Little's law: at {c} closed-loop clients p50 ~ {c}/throughput, so a p95 under 10 ms "
        f"needs > {c / 0.010:.0f} req/s from one server process."
    )
    log(f"HTTP registration p50 {reg.p(50):.1f} ms ({reg.n} sequential POSTs)")
    log(f"bench wall time {time.perf_counter() - t_all:.0f}s")
    failures = sum(r.errors for r in results) + reg.errors
    if failures:
        log(f"{failures} request(s) failed; see the notes above")
    return 1 if failures else 0


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
    p.add_argument(
        "--rate-get",
        type=float,
        default=1000.0,
        help="open-loop GET phase at this many req/s (0: skip)",
    )
    p.add_argument(
        "--rate-search",
        type=float,
        default=100.0,
        help="open-loop search phase at this many req/s (0: skip)",
    )
    p.add_argument("--open-seconds", type=float, default=6.0, help="length of open-loop phases")
    p.add_argument("--max-phase-seconds", type=float, default=45.0, help="cap per phase")
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
    p.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE plans")
    p.add_argument(
        "--profile-server",
        action="store_true",
        help="run the server under cProfile and print its hottest functions",
    )
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv)
    if args.concurrency < 1 or args.requests < 1 or args.client_procs < 1 or args.agents < 50:
        p.error("--concurrency, --requests, --client-procs must be >= 1 and --agents >= 50")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT))
    parent = Path(args.data_dir).expanduser().resolve() if args.data_dir else None
    if parent:
        parent.mkdir(parents=True, exist_ok=True)
    env = Env(root=Path(tempfile.mkdtemp(prefix="glbench-", dir=parent)), keep=args.keep)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        return asyncio.run(run(args, env))
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    except Exception:
        if env.server_log is not None:
            print(f"server log tail:\n{tail(env.server_log)}", file=sys.stderr)
        raise
    finally:
        env.close()


if __name__ == "__main__":
    raise SystemExit(main())
