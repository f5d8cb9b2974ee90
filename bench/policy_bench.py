"""Policy decision benchmark: the embedded engine (OPA's Wasm, wasmtime) and a real OPA over HTTP.

    python bench/policy_bench.py [--decisions 3000] [--http-decisions 2000] [--policies 100]
                                 [--skip-opa] [--opa-gogc 400]

What it does (about a minute on 2 cores; bounded well under 3 minutes):

1. Compiles the stock policies and assembles the bundle the registry would serve
   (`bundles.assemble.assemble`), with the agent catalog, role bindings and per-agent rate
   limits of `policy-tests/fixtures/cases.json`, and writes it to a temp dir.
2. Decision inputs: every fixture case input, in three mixes: `fixture` (each case's own
   `policy_types`, mostly one or two types), `sidecar` (access_control + rate_limiting, what a
   pre-request check asks) and `all` (no `policy_types`: all 13 stock policies).
3. Embedded: `EmbeddedEngine.from_bundle(<archive>)`, decisions one after another through the
   PolicyEngine port (`await engine.decide(input)`). Baseline in the same process: an engine
   whose `greenlang.decision` is one constant rule, fed the same inputs (input encoding, one
   Wasm evaluation and the JSON result: the floor of any embedded decision).
4. OPA over HTTP: `opa run --server` (binary from tests.support.servers.find_binary) on a free
   loopback port with the same archive, queried by `OpaHttpEngine` (one keep-alive aiohttp
   session), one decision at a time. Baselines on the same session: `GET /health` (an HTTP round
   trip) and `POST /v1/data/greenlang/policy_index/retention` with the same input (HTTP +
   input parsing + a data lookup, no policy). OPA runs with GOGC=400, as docs/policies.md
   recommends (Running OPA); for comparison, the fixture mix on a second OPA with Go's default
   GOGC=100, and from an httpx.AsyncClient (what the adapter used before).
5. Bundle build time for 100 generated YAML policies (all six types, every operator):
   `compile_policies` + `assemble`, best and median of 5; plus the embedded engine's compile
   of that bundle and its decision latency with 100 + 5 policies (fewer decisions: they are
   slow).
6. Every decision of both engines over the fixture inputs is compared (they must agree), then
   a summary against the targets of issue 3: embedded p99 < 200 µs, OPA HTTP p99 < 2 ms
   (fixture mix), 100-policy build < 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.loadgen import nearest_rank  # noqa: E402

EMBEDDED_P99_TARGET_US = 200.0
OPA_P99_TARGET_US = 2000.0
BUILD_TARGET_S = 3.0
RECOMMENDED_GOGC = 400  # docs/policies.md, Running OPA
GO_DEFAULT_GOGC = 100
TYPES = ["access_control", "rate_limiting", "compliance", "deployment", "data_access", "retention"]


# ---------------------------------------------------------------------------------------------
# measuring


@dataclass
class Result:
    name: str
    latencies: list[float]  # seconds, in order
    wall: float  # seconds for the whole phase

    def pct(self, q: float) -> float:
        return nearest_rank(sorted(self.latencies), q)

    @property
    def p50(self) -> float:
        return self.pct(0.50)

    @property
    def p99(self) -> float:
        return self.pct(0.99)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall


async def measure(
    name: str,
    call: Callable[[Any], Awaitable[Any]],
    inputs: Sequence[Any],
    count: int,
    warmup: int,
) -> Result:
    """`count` calls, one after another, cycling through `inputs` (after `warmup` calls)."""
    for i in range(warmup):
        await call(inputs[i % len(inputs)])
    gc.collect()
    latencies = []
    clock = time.perf_counter
    start = clock()
    for i in range(count):
        item = inputs[i % len(inputs)]
        t0 = clock()
        await call(item)
        latencies.append(clock() - t0)
    return Result(name, latencies, clock() - start)


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f}"


def print_table(results: Sequence[Result], baseline: Result | None) -> None:
    head = f"{'phase':<48} {'dec/s':>8} {'p50 µs':>8} {'p99 µs':>8} {'p50/base':>9} {'p99/base':>9}"
    print(head)
    print("-" * len(head))
    for r in results:
        ratio = ""
        if baseline is not None and r is not baseline:
            ratio = f"{r.p50 / baseline.p50:>8.1f}x {r.p99 / baseline.p99:>8.1f}x"
        print(f"{r.name:<48} {r.rate:>8,.0f} {us(r.p50):>8} {us(r.p99):>8} {ratio}")
    print()


# ---------------------------------------------------------------------------------------------
# inputs, data and bundles


def fixture_inputs(fixtures: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    cases = [c["input"] for c in fixtures["cases"].values()]
    without_types = [{k: v for k, v in c.items() if k != "policy_types"} for c in cases]
    return {
        "fixture": cases,
        "sidecar": [{**c, "policy_types": ["access_control", "rate_limiting"]} for c in cases],
        "all": without_types,
    }


def fixture_data_dir(fixtures: dict[str, Any], root: Path) -> Path:
    """The stock data with the fixture role bindings and per-agent rate limits."""
    from bundles.layout import STOCK_DATA_DIR
    from bundles.sources import load_data

    out = root / "data"
    shutil.copytree(STOCK_DATA_DIR, out)
    rate_limits = load_data([STOCK_DATA_DIR])["greenlang"]["rate_limits"]
    rate_limits["agents"] = fixtures["data"]["rate_limits"]["agents"]
    (out / "greenlang" / "users" / "data.json").write_text(json.dumps(fixtures["data"]["users"]))
    (out / "greenlang" / "rate_limits" / "data.json").write_text(json.dumps(rate_limits))
    return out


RULES = [
    # (condition clauses, requirement) over the decision input of docs/policies.md
    (
        [("deployment.environment", "equals", "production")],
        ("agent.certificate_id", "not_null", None),
    ),
    ([("agent.id", "not_null", None)], ("agent.status", "in", ["ACTIVE", "DEPRECATED"])),
    ([("request.path", "matches", "^/admin(/|$)")], ("user.roles", "contains", "admin")),
    ([("rate.current", "gte", 100)], ("user.roles", "contains", "operator")),
    (
        [("request.data_classification", "in", ["confidential", "restricted"])],
        ("user.id", "not_null", None),
    ),
    (
        [("request.method", "not_in", ["GET", "HEAD"])],
        ("request.data_classification", "not_null", None),
    ),
    (
        [("agent.certificate_id", "not_null", None)],
        ("derived.certificate_ttl_ns", "gt", 86_400_000_000_000),
    ),
    ([("action", "equals", "audit.purge")], ("request.older_than_days", "gte", 30)),
    (
        [("agent.status", "not_equals", "DRAFT")],
        ("agent.owner_team", "matches", "^[a-z0-9-]{1,32}$"),
    ),
    (
        [("deployment.approvals", "is_null", None)],
        ("deployment.environment", "not_in", ["production"]),
    ),
    ([("rate.window_s", "lt", 10)], ("rate.current", "lte", 50)),
    ([("user.team", "equals", "marketing")], ("action", "in", ["invoke", "read"])),
]


def clause_yaml(field: str, operator: str, value: Any, indent: str) -> str:
    text = f"{indent}field: {field}\n{indent}operator: {operator}\n"
    if value is not None:
        text += f"{indent}value: {json.dumps(value)}\n"
    return text


def generated_policies(directory: Path, count: int) -> Path:
    """`count` YAML policies (all types, 1-3 rules each, every operator), one file each."""
    directory.mkdir(parents=True)
    for i in range(count):
        kind = TYPES[i % len(TYPES)]
        chosen = [RULES[(i + r * 5) % len(RULES)] for r in range(1 + i % 3)]
        if any(f.startswith("rate.") for c, req in chosen for f, _, _ in [*c, req]):
            kind = "rate_limiting"  # the compiler keeps per-call measurements to rate policies
        rules = ""
        for r, (conditions, (field, operator, value)) in enumerate(chosen):
            rules += "  - condition:\n"
            for c_field, c_op, c_value in conditions:
                rules += "      - " + clause_yaml(c_field, c_op, c_value, "        ")[8:]
            rules += "    requirement:\n" + clause_yaml(field, operator, value, "      ")
            rules += f"    message: generated policy {i} rule {r + 1} is not met\n"
        text = (
            f"policy_id: gen-{i:03d}-{kind.replace('_', '-')}\n"
            f"type: {kind}\n"
            f"name: Generated policy {i}\n"
            f"description: Generated for bench/policy_bench.py ({kind}).\n"
            f"rules:\n{rules}"
            f"enforcement: {'warn' if i % 4 == 3 else 'deny'}\n"
            f"enabled: {'false' if i % 10 == 9 else 'true'}\n"
        )
        (directory / f"gen-{i:03d}.yaml").write_text(text)
    return directory


def build_time(policy_dir: Path, data_dir: Path, catalog: dict[str, Any], runs: int) -> list[float]:
    from bundles.assemble import assemble
    from bundles.compiler import compile_policies

    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        assemble(compile_policies([policy_dir]), catalog=catalog, data_dirs=(data_dir,))
        times.append(time.perf_counter() - t0)
    return times


# ---------------------------------------------------------------------------------------------
# OPA


async def opa_fixture_at_go_default(
    bundle: Path, workdir: Path, inputs: Sequence[Any], n: int, warm: int
) -> Result:
    """The fixture mix on a second OPA with Go's default GC setting (comparison row)."""
    from bundles.engines.opa_http import OpaHttpEngine

    opa = opa_server(bundle, workdir / "opa-go-default", GO_DEFAULT_GOGC)
    opa.start()
    try:
        http = OpaHttpEngine(opa.url)
        try:
            return await measure(
                f"OPA HTTP fixture, GOGC={GO_DEFAULT_GOGC} (comparison)",
                http.decide,
                inputs,
                n,
                warm,
            )
        finally:
            await http.close()
    finally:
        opa.close()


def opa_server(bundle: Path, workdir: Path, gogc: int | None = None) -> Any:
    """`opa run --server` with one bundle, on a free loopback port (the tests' ServerProcess)."""
    from tests.support.servers import OpaServerProcess, find_binary

    class Opa(OpaServerProcess):
        health_path = "/health?bundles"  # ready only once the bundle is activated

        def opa_args(self) -> list[str]:
            return ["--bundle", str(bundle)]

        def environment(self) -> dict[str, str]:
            return {**os.environ, "GOGC": str(gogc)} if gogc else dict(os.environ)

        def version(self) -> str:
            out = subprocess.run(
                [find_binary("opa"), "version"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            return out.stdout.splitlines()[0] if out.stdout else "unknown"

    return Opa(workdir)


# ---------------------------------------------------------------------------------------------
# the run


async def run(args: argparse.Namespace, tmp: Path) -> int:
    import aiohttp
    import httpx
    import wasmtime

    from bundles.assemble import assemble
    from bundles.compiler import compile_policies
    from bundles.engines.embedded import EmbeddedEngine
    from bundles.engines.opa_http import OpaHttpEngine
    from bundles.engines.wire import encode_input
    from bundles.layout import POLICY_TESTS_DIR, STOCK_POLICY_DIR

    fixtures = json.loads((POLICY_TESTS_DIR / "fixtures" / "cases.json").read_text())
    catalog = fixtures["data"]["catalog"]["agents"]
    data_dir = fixture_data_dir(fixtures, tmp)
    mixes = fixture_inputs(fixtures)
    n, warm = args.decisions, max(200, args.decisions // 10)
    print(
        f"python {platform.python_version()}, wasmtime {wasmtime.__version__}, "
        f"{os.cpu_count()} CPUs, {len(mixes['fixture'])} fixture inputs, "
        f"{n} embedded / {args.http_decisions} HTTP decisions per phase\n"
    )

    built = assemble(compile_policies([STOCK_POLICY_DIR]), catalog=catalog, data_dirs=(data_dir,))
    bundle = tmp / "greenlang.tar.gz"
    bundle.write_bytes(built.content)
    print(f"bundle: {len(built.content):,} bytes, revision {built.revision[:12]}")

    # -- embedded -------------------------------------------------------------------------
    t0 = time.perf_counter()
    engine = EmbeddedEngine.from_bundle(bundle)
    load_s = time.perf_counter() - t0
    print(f"embedded: from_bundle (read, compile, first decision) {load_s * 1e3:.1f} ms\n")
    trivial = EmbeddedEngine({"greenlang/decision.rego": TRIVIAL_DECISION}, {})
    embedded_base = await measure(
        "embedded baseline: constant decision", trivial.decide, mixes["fixture"], n, warm
    )
    embedded = [embedded_base]
    for mix, inputs in mixes.items():
        embedded.append(await measure(f"embedded {mix}", engine.decide, inputs, n, warm))
    print_table(embedded, embedded_base)

    # -- OPA over HTTP --------------------------------------------------------------------
    opa_results: list[Result] = []
    mismatches = 0
    opa_version = "-"
    if not args.skip_opa:
        opa = opa_server(bundle, tmp, args.opa_gogc)
        opa_version = opa.version()
        opa.start()
        try:
            connector = aiohttp.TCPConnector(limit=32, keepalive_timeout=60)
            async with aiohttp.ClientSession(opa.url, connector=connector) as session:
                http = OpaHttpEngine(opa.url, session=session)
                hn, hwarm = args.http_decisions, max(100, args.http_decisions // 10)
                headers = {"Content-Type": "application/json"}

                async def health(_: Any) -> None:
                    async with session.get("/health") as response:
                        response.raise_for_status()
                        await response.read()

                async def data_lookup(item: Any) -> None:
                    body = ('{"input":' + encode_input(item) + "}").encode()
                    path = "/v1/data/greenlang/policy_index/retention"
                    async with session.post(path, data=body, headers=headers) as response:
                        response.raise_for_status()
                        json.loads(await response.read())

                http_base = await measure(
                    "OPA baseline: GET /health", health, mixes["fixture"], hn, hwarm
                )
                opa_results = [
                    http_base,
                    await measure(
                        "OPA baseline: data lookup, same input",
                        data_lookup,
                        mixes["fixture"],
                        hn,
                        hwarm,
                    ),
                ]
                for mix, inputs in mixes.items():
                    opa_results.append(
                        await measure(f"OPA HTTP {mix}", http.decide, inputs, hn, hwarm)
                    )
                # The same decision requests from an httpx.AsyncClient (the adapter's client
                # before it moved to aiohttp): how much of the latency is the client.
                async with httpx.AsyncClient(base_url=opa.url) as client:

                    async def httpx_decide(item: Any) -> Any:
                        body = ('{"input":' + encode_input(item) + "}").encode()
                        response = await client.post(
                            "/v1/data/greenlang/decision", content=body, headers=headers
                        )
                        return response.json()["result"]

                    opa_results.append(
                        await measure(
                            "OPA HTTP fixture, httpx client (comparison)",
                            httpx_decide,
                            mixes["fixture"],
                            hn,
                            hwarm,
                        )
                    )
                if args.opa_gogc != GO_DEFAULT_GOGC:
                    opa_results.append(
                        await opa_fixture_at_go_default(bundle, tmp, mixes["fixture"], hn, hwarm)
                    )
                gc_note = f", GOGC={args.opa_gogc}" if args.opa_gogc else ""
                print(
                    f"{opa_version}{gc_note}, one keep-alive aiohttp session "
                    "(bundles.engines.opa_http)"
                )
                print_table(opa_results, http_base)
                for inputs in mixes.values():
                    for item in inputs:
                        if await http.decide(item) != await engine.decide(item):
                            mismatches += 1
        finally:
            opa.close()

    # -- bundle build for 100 policies ----------------------------------------------------
    policy_dir = generated_policies(tmp / "generated", args.policies)
    builds = build_time(policy_dir, data_dir, catalog, runs=5)
    big_compiled = compile_policies([policy_dir])
    hand_written = len(big_compiled.policies) - args.policies
    big = assemble(big_compiled, catalog=catalog, data_dirs=(data_dir,))
    t0 = time.perf_counter()
    big_engine = EmbeddedEngine.from_bundle(big.content)
    big_load = time.perf_counter() - t0
    big_results = [
        await measure(
            f"embedded fixture, {args.policies}-policy bundle",
            big_engine.decide,
            mixes["fixture"],
            max(1, n // 5),
            len(mixes["fixture"]),
        ),
        await measure(
            f"embedded all, {args.policies}-policy bundle",
            big_engine.decide,
            mixes["all"],
            max(1, n // 10),
            len(mixes["all"]),
        ),
    ]
    print(
        f"bundle build, {args.policies} generated YAML policies (+ {hand_written} hand-written): "
        f"compile + assemble best {min(builds):.2f} s, median {statistics.median(builds):.2f} s "
        f"({len(big.content):,} bytes); embedded from_bundle {big_load * 1e3:.0f} ms"
    )
    print_table(big_results, embedded_base)

    # -- summary --------------------------------------------------------------------------
    fixture_embedded = next(r for r in embedded if r.name == "embedded fixture")
    print("targets (issue 3), fixture mix:")
    checks = [
        ("embedded p99 < 200 µs", fixture_embedded.p99 * 1e6, EMBEDDED_P99_TARGET_US, "µs"),
    ]
    if opa_results:
        fixture_opa = next(r for r in opa_results if r.name == "OPA HTTP fixture")
        checks.append(("OPA HTTP p99 < 2 ms", fixture_opa.p99 * 1e6, OPA_P99_TARGET_US, "µs"))
    checks.append(
        (f"{args.policies}-policy build < 3 s", statistics.median(builds), BUILD_TARGET_S, "s")
    )
    for label, value, target, unit in checks:
        shown = f"{value:,.0f} {unit}" if unit == "µs" else f"{value:.2f} {unit}"
        print(f"  {label:<28} {shown:>12}   {'PASS' if value < target else 'MISS'}")
    if opa_results:
        total = sum(len(v) for v in mixes.values())
        print(f"  engines agree on {total - mismatches}/{total} decisions")
    return 1 if mismatches else 0


TRIVIAL_DECISION = "package greenlang.decision\n\nallow := true\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--decisions", type=int, default=3000, help="embedded decisions per phase")
    p.add_argument("--http-decisions", type=int, default=2000, help="OPA decisions per phase")
    p.add_argument("--policies", type=int, default=100, help="generated policies to build")
    p.add_argument("--skip-opa", action="store_true", help="embedded engine and build only")
    p.add_argument(
        "--opa-gogc",
        type=int,
        default=RECOMMENDED_GOGC,
        help=f"GOGC for the OPA process (default {RECOMMENDED_GOGC}, as docs/policies.md "
        "recommends; Go's own default, 100, is measured too for comparison)",
    )
    args = p.parse_args(argv)
    if min(args.decisions, args.http_decisions, args.policies) < 1:
        p.error("counts must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="glpolicybench-"))
    try:
        return asyncio.run(run(args, tmp))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
