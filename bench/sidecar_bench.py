"""Sidecar overhead benchmark: the example agent direct, behind a plain proxy and behind the
sidecar (embedded engine and OPA over HTTP), under the same load, in one run.

    python bench/sidecar_bench.py [--duration 10] [--warmup 2] [--concurrency 32]
                                  [--processes 2] [--latency-concurrency 1]
                                  [--path "POST /v1/calculate"] [--body FILE]
                                  [--only a,p,b,n,c] [--keep-logs]

What it does:

1. Starts the CBAM example agent (examples/cbam_agent/agent.py) as a subprocess on a free port.
2. Builds a policy bundle from the stock policies (`bundles.compiler.compile_policies` +
   `bundles.assemble.assemble`, what `greenlang-governance bundle build` runs) whose catalog has
   the agent ACTIVE with a certificate, and whose `operator` rate limit is raised out of reach
   (the bench measures the sidecar, not the limiter). The pre-execution input the sidecar will
   send is decided once in-process to show the bundle allows the bench caller.
3. Mints an HS256 JWT (PyJWT; sub, roles ["operator"], team, exp) for `Authorization`.
4. For each target, in this order, starts what it needs, drives load, stops it again:
   (a) direct to the agent;
   (p) a plain proxy: `sidecar.proxy.create_proxy_app` in its own process (no auth, no policy,
       no telemetry): the floor any proxy in Python pays;
   (b) `greenlang-sidecar --engine embedded --bundle FILE` (ready when admin /readyz is 200);
   (c) `greenlang-sidecar --engine http://OPA` with a real `opa run --server --bundle FILE`.
   (b) and (c) are skipped, with the reason, while the sidecar CLI is not available.
5. Load: bench/loadgen.py, `--processes` spawned processes with `--concurrency` keep-alive
   aiohttp clients in total, closed loop, `--warmup` s unmeasured then `--duration` s measured;
   then the same with `--latency-concurrency` clients (default 1: service time without
   queueing). Every target gets the same request bytes (`--path`, JWT and headers included).
6. Prints one table: throughput, p50/p99, errors, added latency (target minus direct) and the
   throughput ratio (target / direct), CPU use per process; then the targets of issue 4:
   added p50 < 1 ms with the embedded engine (judged at --latency-concurrency, where latency
   is service time; at full concurrency p50 is mostly queueing, = clients / throughput) and
   throughput >= 50% of direct (at --concurrency), each PASS or MISS.

Everything runs on loopback on this machine; all processes share its cores (the table's CPU
columns show how). Processes and the temp dir are removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import math
import os
import platform
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.loadgen import LoadResult, LoadSpec, run_load  # noqa: E402
from tests.support.servers import (  # noqa: E402
    OpaServerProcess,
    ServerExited,
    ServerProcess,
    find_binary,
    free_port,
    log_tail,
)

AGENT_PY = REPO_ROOT / "examples" / "cbam_agent" / "agent.py"
AGENT_ID = "gl-cbam-embedded-emissions"
AGENT_VERSION = "1.0.0"
TEAM = "cbam-team"
USER = "bench-operator"
ENVIRONMENT = "development"
DATA_CLASSIFICATION = "internal"

# issue 12's sidecar targets
SIDECAR_VS_PLAIN = 0.80  # (b) throughput over (p)'s at --concurrency
ADDED_P50_TARGET_MS = 0.5  # (b) p50 minus (a)'s at --latency-concurrency
NO_CACHE_VS_CACHE = 0.60  # (n) throughput over (b)'s at --concurrency

# How the sidecar is started: this checkout's `greenlang-sidecar` entry point (sidecar.cli:main)
# run by this interpreter, so a stale console script elsewhere on PATH cannot be picked up.
SIDECAR_ENTRY = [sys.executable, "-c", "import sys; from sidecar.cli import main; sys.exit(main())"]
# Extra sidecar flags without editing this file:
# GREENLANG_BENCH_SIDECAR_ARGS="--log-level warning" python bench/sidecar_bench.py
EXTRA_SIDECAR_ARGS_ENV = "GREENLANG_BENCH_SIDECAR_ARGS"


def sidecar_command(
    *,
    upstream: str,
    listen: str,
    admin_listen: str,
    engine: str,
    bundle: Path,
    jwt_secret_file: Path,
    spool_dir: Path,
    extra: Sequence[str] = (),
) -> list[str]:
    """The sidecar's command line: the one place to follow changes of its CLI. With an OPA
    engine the bundle is OPA's (started with it), so the sidecar gets no --bundle."""
    return [
        *SIDECAR_ENTRY,
        "--agent-id", AGENT_ID,
        "--agent-version", AGENT_VERSION,
        "--upstream", upstream,
        "--listen", listen,
        "--admin-listen", admin_listen,
        "--engine", engine,
        *(["--bundle", str(bundle)] if engine == "embedded" else []),
        "--environment", ENVIRONMENT,
        "--jwt-secret-file", str(jwt_secret_file),
        "--spool-dir", str(spool_dir),
        *extra,
        *shlex.split(os.environ.get(EXTRA_SIDECAR_ARGS_ENV, "")),
    ]  # fmt: skip


def sidecar_unavailable() -> str | None:
    """Why the sidecar cannot be benchmarked yet (None when `--help` works)."""
    if importlib.util.find_spec("sidecar.cli") is None:
        return "sidecar/cli.py (the greenlang-sidecar entry point) does not exist yet"
    try:
        done = subprocess.run(
            [*SIDECAR_ENTRY, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO_ROOT,
            env=python_env(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "greenlang-sidecar --help did not finish in 60 s"
    if done.returncode != 0:
        said = (done.stdout + done.stderr).strip().splitlines()
        return f"greenlang-sidecar --help exited {done.returncode}: " + (said[-1] if said else "")
    return None


def python_env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{path}" if path else str(REPO_ROOT),
    }


# ---------------------------------------------------------------------------------------------
# the request


def sample_body() -> bytes:
    """A quarterly CBAM declaration's worth of goods (~1.3 KB), declarant with e-mail and IBAN."""
    goods = [
        {"cn_code": "72081000", "quantity_tonnes": 412.5, "country_of_origin": "CN"},
        {"cn_code": "72071111", "quantity_tonnes": 120.0, "country_of_origin": "TR",
         "direct_emissions_tco2_per_t": 1.62, "indirect_emissions_tco2_per_t": 0.21},
        {"cn_code": "76011000", "quantity_tonnes": 38.2, "country_of_origin": "IN"},
        {"cn_code": "25231000", "quantity_tonnes": 1500.0, "country_of_origin": "EG"},
        {"cn_code": "31021010", "quantity_tonnes": 220.0, "country_of_origin": "RU"},
        {"cn_code": "28041000", "quantity_tonnes": 3.4, "country_of_origin": "NO"},
        {"cn_code": "27160000", "quantity_tonnes": 950.0, "country_of_origin": "RS"},
        {"cn_code": "76061230", "quantity_tonnes": 12.75, "country_of_origin": "AE"},
    ]  # fmt: skip
    declarant = {
        "name": "Nordhafen Stahlhandel GmbH",
        "email": "cbam-declarations@nordhafen-stahl.example",
        "iban": "DE89370400440532013000",
        "eori": "DE123456789012345",
        "reporting_period": "2026-Q3",
    }
    return json.dumps({"goods": goods, "declarant": declarant}).encode()


def mint_jwt(secret: str, lifetime_s: float) -> str:
    import jwt

    now = int(time.time())
    claims = {"sub": USER, "roles": ["operator"], "team": TEAM, "iat": now,
              "exp": now + int(lifetime_s)}  # fmt: skip
    return jwt.encode(claims, secret, algorithm="HS256")


# ---------------------------------------------------------------------------------------------
# the bundle


def bench_catalog() -> dict[str, Any]:
    expires_ns = (int(time.time()) + 365 * 86400) * 1_000_000_000
    return {
        AGENT_ID: {
            "owner_team": TEAM,
            "current_version": AGENT_VERSION,
            "versions": {
                AGENT_VERSION: {
                    "status": "ACTIVE",
                    "certificate_id": "cert-bench-cbam-100",
                    "certificate_expires_at": expires_ns,
                }
            },
        }
    }


def bench_data_dir(root: Path) -> Path:
    """The stock data with the operator's rate limit out of reach of any load this can make."""
    from bundles.layout import STOCK_DATA_DIR

    out = root / "data"
    shutil.copytree(STOCK_DATA_DIR, out)
    limits_file = out / "greenlang" / "rate_limits" / "data.json"
    limits = json.loads(limits_file.read_text())
    limits.setdefault("roles", {})["operator"] = 1_000_000_000
    limits_file.write_text(json.dumps(limits))
    return out


def build_bundle(root: Path) -> Path:
    from bundles.assemble import assemble
    from bundles.compiler import compile_policies
    from bundles.layout import STOCK_POLICY_DIR

    compiled = compile_policies([STOCK_POLICY_DIR])
    built = assemble(compiled, catalog=bench_catalog(), data_dirs=(bench_data_dir(root),))
    path = root / "bundle.tar.gz"
    path.write_bytes(built.content)
    return path


def pre_input(method: str, path: str) -> dict[str, Any]:
    """The pre-execution input the sidecar sends for the bench caller (/tmp/notes contract)."""
    return {
        "action": "invoke",
        "phase": "pre",
        "policy_types": ["access_control", "rate_limiting", "compliance", "data_access"],
        "user": {"id": USER, "roles": ["operator"], "team": TEAM},
        "agent": {"id": AGENT_ID, "version": AGENT_VERSION},
        "request": {"method": method, "path": path, "data_classification": DATA_CLASSIFICATION},
        "deployment": {"environment": ENVIRONMENT},
        "rate": {"current": 100_000, "window_s": 60},
        "now": time.time_ns(),
    }


def check_bundle(bundle: Path, method: str, path: str) -> str:
    """The embedded engine's decision for the bench caller, as one line (deny is fatal)."""
    from bundles.engines.embedded import EmbeddedEngine

    engine = EmbeddedEngine.from_bundle(bundle.read_bytes())
    decision = asyncio.run(engine.decide(pre_input(method, path)))
    verdict = decision.get("decision", "allow" if decision.get("allow") else "deny")
    if verdict == "deny" or decision.get("allow") is False:
        raise SystemExit(f"the bench bundle denies the bench caller: {decision.get('violations')}")
    warnings = [w.get("policy_id") for w in decision.get("warnings", [])]
    return verdict + (f" (warnings: {', '.join(warnings)})" if warnings else "")


# ---------------------------------------------------------------------------------------------
# processes


class AgentProcess(ServerProcess):
    name = "agent"
    health_path = "/healthz"

    def command(self) -> list[str]:
        return [sys.executable, str(AGENT_PY), "--host", "127.0.0.1", "--port", str(self.port)]


PLAIN_PROXY = """
import sys
from aiohttp import web
from sidecar.proxy import create_proxy_app
web.run_app(create_proxy_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]),
            print=None, access_log=None)
"""


class PlainProxyProcess(ServerProcess):
    """sidecar.proxy.create_proxy_app alone; its /healthz is the agent's, proxied."""

    name = "plain-proxy"
    health_path = "/healthz"

    def __init__(self, workdir: Path, upstream: str) -> None:
        super().__init__(workdir)
        self.upstream = upstream
        self.proxy_url = self.url

    def command(self) -> list[str]:
        return [sys.executable, "-c", PLAIN_PROXY, self.upstream, str(self.port)]

    def environment(self) -> dict[str, str]:
        return python_env()


NGINX_CONF = """\
daemon off;
master_process on;
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream agent {{
        server {upstream};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port} reuseport;
        location / {{
            proxy_pass http://agent;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $proxy_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Request-Id $request_id;
        }}
    }}
}}
"""


class NginxProcess(ServerProcess):
    """nginx (Debian nginx-light) as a plain keep-alive reverse proxy, configured in its own
    directory: nginx.conf, pid and error log there, in the foreground (`daemon off`), its
    master's pid watched (CPU of master and workers)."""

    name = "nginx"
    health_path = "/healthz"

    def __init__(self, workdir: Path, upstream: str, workers: int) -> None:
        super().__init__(workdir)
        self.upstream = upstream.removeprefix("http://")
        self.workers = workers
        self.proxy_url = self.url

    def command(self) -> list[str]:
        conf = self.workdir / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                workers=self.workers, dir=self.workdir, upstream=self.upstream, port=self.port
            )
        )
        binary = nginx_binary()
        assert binary is not None
        error_log = str(self.workdir / "error.log")  # -e: also for errors before the conf
        return [binary, "-p", str(self.workdir), "-c", str(conf), "-e", error_log]

    def version(self) -> str:
        binary = nginx_binary() or "nginx"
        done = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
        return (done.stderr or done.stdout).strip().removeprefix("nginx version: ")


def nginx_binary() -> str | None:
    """$GREENLANG_NGINX_BIN, nginx on PATH, or Debian's /usr/sbin/nginx."""
    for candidate in (os.environ.get("GREENLANG_NGINX_BIN"), shutil.which("nginx"),
                      "/usr/sbin/nginx"):  # fmt: skip
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


class SidecarProcess(ServerProcess):
    """greenlang-sidecar; `port`/`url` are its admin listener (ready at /readyz), `proxy_url`
    the proxy listener."""

    name = "sidecar"
    health_path = "/readyz"

    def __init__(
        self,
        workdir: Path,
        *,
        upstream: str,
        engine: str,
        bundle: Path,
        jwt_secret_file: Path,
        extra: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(workdir, timeout=60)
        self.extra = list(extra)
        self.env = dict(env or {})
        self.listen_port = free_port()
        self.proxy_url = f"http://127.0.0.1:{self.listen_port}"
        self.upstream = upstream
        self.engine = engine
        self.bundle = bundle
        self.jwt_secret_file = jwt_secret_file

    def command(self) -> list[str]:
        return sidecar_command(
            upstream=self.upstream,
            listen=f"127.0.0.1:{self.listen_port}",
            admin_listen=f"127.0.0.1:{self.port}",
            engine=self.engine,
            bundle=self.bundle,
            jwt_secret_file=self.jwt_secret_file,
            spool_dir=self.workdir / "spool",
            extra=self.extra,
        )

    def environment(self) -> dict[str, str]:
        env = python_env()
        # Standalone: no registry; never ship bench audit events to a registry from the env.
        env.pop("GREENLANG_REGISTRY_URL", None)
        env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        return {**env, **self.env}


class BenchOpa(OpaServerProcess):
    health_path = "/health?bundles"  # ready only once the bundle is activated

    def __init__(self, workdir: Path, bundle: Path) -> None:
        super().__init__(workdir)
        self.bundle = bundle

    def opa_args(self) -> list[str]:
        return ["--bundle", str(self.bundle)]

    def version(self) -> str:
        out = subprocess.run(
            [find_binary("opa"), "version"], capture_output=True, text=True, check=False
        ).stdout
        return next((line for line in out.splitlines() if line.startswith("Version")), "OPA")


def pid_of(server: ServerProcess) -> int:
    proc = server._proc  # the base class keeps the Popen private
    assert proc is not None
    return proc.pid


# ---------------------------------------------------------------------------------------------
# running


@dataclass
class Phase:
    clients: int
    result: LoadResult


@dataclass
class Target:
    key: str
    label: str
    start: Callable[[], AbstractContextManager[tuple[str, dict[str, int]]]]  # (url, pids)
    skipped: str | None = None
    phases: list[Phase] = field(default_factory=list)


def probe(url: str, method: str, body: bytes | None, headers: list[tuple[str, str]]) -> str | None:
    """One request before the load; a line describing it unless it answered 200."""
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            resp.read()
            return None
    except urllib.error.HTTPError as exc:
        return f"probe answered {exc.code}: {exc.read()[:300].decode(errors='replace')}"
    except OSError as exc:
        return f"probe failed: {exc!r}"


def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1e3:.2f}"


def cpu_per_request(r: LoadResult, name: str) -> float:
    """CPU seconds `name` spent per answered request: steadier than throughput on a busy
    machine, where other work takes cores away at random."""
    return r.server_cpu.get(name, 0.0) / r.count if r.count else float("nan")


def print_table(targets: list[Target], direct: Target | None) -> None:
    head = (
        f"{'target':<34} {'clients':>7} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'errors':>6} {'+p50 ms':>8} {'+p99 ms':>8} {'thr/dir':>7}  cpu % (one core = 100) "
        "(CPU per request)"
    )
    print(head)
    print("-" * len(head))
    for by_clients in sorted({p.clients for t in targets for p in t.phases}, reverse=True):
        for t in targets:
            if t.skipped:
                continue
            phase = next((p for p in t.phases if p.clients == by_clients), None)
            if phase is None:
                continue
            r = phase.result
            base = None
            if direct is not None and t is not direct:
                base = next((p.result for p in direct.phases if p.clients == by_clients), None)
            added = ratio = ""
            if base is not None:
                added = f"{ms(r.p50 - base.p50):>8} {ms(r.p99 - base.p99):>8}"
                ratio = f"{r.throughput / base.throughput:>6.0%}" if base.throughput else ""
            else:
                added = f"{'':>8} {'':>8}"
            cpu = "  ".join(
                f"{name} {r.cpu_percent(name):.0f}"
                + (f" ({cpu_per_request(r, name) * 1e6:.0f} µs/req)" if name != "client" else "")
                for name in (*r.server_cpu, "client")
            )
            print(
                f"{t.label:<34} {by_clients:>7} {r.throughput:>8,.0f} {ms(r.p50):>7} "
                f"{ms(r.p99):>7} {r.failed:>6} {added} {ratio:>7}  {cpu}"
            )
    for t in targets:
        if t.skipped:
            print(f"{t.label:<34} SKIPPED: {t.skipped}")
    print()


def summary(targets: list[Target], direct: Target, load_clients: int, lat_clients: int) -> None:
    """Issue 12's sidecar targets, PASS/MISS from this run, and the ratios that explain them."""
    by_key = {t.key: t for t in targets if not t.skipped}

    def result(key: str, clients: int) -> LoadResult | None:
        t = by_key.get(key)
        return next((p.result for p in t.phases if p.clients == clients), None) if t else None

    def ratio(num: str, den: str, clients: int = load_clients) -> float | None:
        a, b = result(num, clients), result(den, clients)
        return a.throughput / b.throughput if a and b and b.throughput else None

    def line(text: str, value: float | None, shown: str, verdict: bool | None = None) -> None:
        if value is None:
            print(f"  {text:<58} not measured")
            return
        judged = "" if verdict is None else ("PASS" if verdict else "MISS")
        print(f"  {text:<58} {shown:>9}  {judged}")

    print(f"targets (issue 12), throughput at {load_clients} clients, latency at {lat_clients}:")
    r = ratio("b", "p")
    line(f"(b)/(p) throughput >= {SIDECAR_VS_PLAIN:.0%}", r, f"{r or 0:.0%}",
         r is not None and r >= SIDECAR_VS_PLAIN)  # fmt: skip
    lat, lat_base = result("b", lat_clients), result("a", lat_clients)
    added = (lat.p50 - lat_base.p50) * 1e3 if lat and lat_base and lat.count else None
    line(f"(b) added p50 vs (a) <= {ADDED_P50_TARGET_MS:g} ms", added, f"{added or 0:.2f} ms",
         added is not None and added <= ADDED_P50_TARGET_MS)  # fmt: skip
    r = ratio("n", "b")
    line(f"(n)/(b) throughput >= {NO_CACHE_VS_CACHE:.0%} (decision cache off)", r,
         f"{r or 0:.0%}", r is not None and r >= NO_CACHE_VS_CACHE)  # fmt: skip
    for num, den, text in (("b", "x", "(b)/(x) throughput, sidecar vs nginx"),
                           ("p", "x", "(p)/(x) throughput, Python proxy vs nginx"),
                           ("b", "u", "(b)/(u) throughput, uvloop vs asyncio loop"),
                           ("b", "j", "(b)/(j) throughput, orjson vs stdlib json")):  # fmt: skip
        if num in by_key and den in by_key:
            r = ratio(num, den)
            line(text, r, f"{r or 0:.0%}")
    for key, what in (("u", "uvloop vs asyncio"), ("j", "orjson vs stdlib json")):
        a, b = result("b", load_clients), result(key, load_clients)
        if a and b and a.count and b.count:
            mine, other = cpu_per_request(a, "sidecar"), cpu_per_request(b, "sidecar")
            line(f"(b)/({key}) sidecar CPU per request, {what}", mine / other,
                 f"{mine / other:.0%}")  # fmt: skip
    for key in ("u", "j"):
        if key in by_key and "b" in by_key:
            a, b = result("b", lat_clients), result(key, lat_clients)
            if a and b and a.count and b.count:
                d = (a.p50 - b.p50) * 1e3
                line(f"(b) p50 minus ({key}) p50 at {lat_clients} client(s)", d, f"{d:+.2f} ms")
    print()


@dataclass(frozen=True)
class Request:
    path: str
    method: str
    body: bytes | None
    headers: tuple[tuple[str, str], ...]


def measure(
    t: Target, phases: list[tuple[int, int]], args: argparse.Namespace, req: Request, round_no: int
) -> None:
    """Start the target, drive each phase against it, stop it; a failure marks it skipped."""
    rounds = f" (round {round_no})" if args.rounds > 1 else ""
    try:
        with t.start() as (base_url, watch):
            trouble = probe(base_url + req.path, req.method, req.body, list(req.headers))
            if trouble:
                print(f"{t.label}: {trouble}", file=sys.stderr)
            for clients, procs in phases:
                spec = LoadSpec(
                    url=base_url + req.path,
                    method=req.method,
                    body=req.body,
                    headers=req.headers,
                    concurrency=clients,
                    processes=procs,
                    duration=args.duration,
                    warmup=args.warmup,
                )
                result = run_load(spec, watch)
                t.phases.append(Phase(clients, result))
                bad = {s: n for s, n in result.statuses.items() if s != 200}
                print(
                    f"{t.label}, {clients} clients{rounds}: {result.throughput:,.0f} req/s, "
                    f"p50 {ms(result.p50)} ms, p99 {ms(result.p99)} ms, CPU per request "
                    + ", ".join(
                        f"{name} {cpu_per_request(result, name) * 1e6:.0f} µs"
                        for name in result.server_cpu
                    )
                    + (f", non-200: {bad}" if bad else "")
                    + (f", errors: {dict(result.errors)}" if result.errors else ""),
                    flush=True,
                )
    except (ServerExited, RuntimeError) as exc:
        t.skipped = f"failed to start or run: {str(exc).splitlines()[0]}"
        print(f"{t.label}: {exc}", file=sys.stderr)


def best_phases(phases: list[Phase]) -> list[Phase]:
    """Per number of clients, the round with the highest throughput: the one the machine's
    other work disturbed least (with --rounds 1, the only one)."""
    best: dict[int, Phase] = {}
    for p in phases:
        if p.clients not in best or p.result.throughput > best[p.clients].result.throughput:
            best[p.clients] = p
    return list(best.values())


LOG_DIRS = {"a": ["agent"], "p": ["plain", "agent"], "x": ["nginx", "agent"],
            "b": ["sidecar-embedded", "agent"], "n": ["sidecar-nocache", "agent"],
            "u": ["sidecar-asyncio", "agent"], "j": ["sidecar-stdlib-json", "agent"],
            "c": ["sidecar-opa", "opa", "agent"]}  # fmt: skip
TARGET_KEYS = ("a", "p", "x", "b", "n", "u", "j", "c")


def run(args: argparse.Namespace, tmp: Path) -> int:
    method, _, path = args.path.partition(" ")
    method = method.upper()
    body = Path(args.body).read_bytes() if args.body else None
    if body is None and method in ("POST", "PUT", "PATCH") and path == "/v1/calculate":
        body = sample_body()

    secret = secrets.token_hex(32)
    secret_file = tmp / "jwt-secret"
    secret_file.write_text(secret)
    secret_file.chmod(0o600)
    bundle = build_bundle(tmp)
    decision = check_bundle(bundle, method, path)
    lifetime = 3600 + 4 * 2 * (args.warmup + args.duration)
    headers: list[tuple[str, str]] = [
        ("Authorization", f"Bearer {mint_jwt(secret, lifetime)}"),
        ("X-Data-Classification", DATA_CLASSIFICATION),
    ]
    if body is not None:
        headers.append(("Content-Type", args.content_type))

    print(
        f"sidecar bench: {method} {path} ({len(body or b''):,} B body), "
        f"{args.concurrency} clients in {args.processes} load process(es) then "
        f"{args.latency_concurrency} client(s); {args.warmup:g} s warm-up + {args.duration:g} s "
        f"per phase; {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"bundle: stock policies, {AGENT_ID} {AGENT_VERSION} ACTIVE + certificate, operator "
          f"rate limit raised; embedded decision for the bench caller: {decision}")  # fmt: skip

    agent = AgentProcess(tmp / "agent").start()
    try:
        reason = sidecar_unavailable() if {"b", "n", "u", "j", "c"} & set(args.only) else None

        @contextmanager
        def direct() -> Iterator[tuple[str, dict[str, int]]]:
            yield agent.url, {"agent": pid_of(agent)}

        @contextmanager
        def plain() -> Iterator[tuple[str, dict[str, int]]]:
            with PlainProxyProcess(tmp / "plain", agent.url) as proxy:
                yield proxy.proxy_url, {"agent": pid_of(agent), "proxy": pid_of(proxy)}

        @contextmanager
        def nginx() -> Iterator[tuple[str, dict[str, int]]]:
            with NginxProcess(tmp / "nginx", agent.url, args.nginx_workers) as proxy:
                print(f"(x) uses nginx {proxy.version()}, worker_processes {args.nginx_workers}")
                yield proxy.proxy_url, {"agent": pid_of(agent), "nginx": pid_of(proxy)}

        def embedded(
            name: str, *extra: str, env: Mapping[str, str] | None = None
        ) -> Callable[[], Any]:
            @contextmanager
            def start() -> Iterator[tuple[str, dict[str, int]]]:
                with SidecarProcess(
                    tmp / name,
                    upstream=agent.url,
                    engine="embedded",
                    bundle=bundle,
                    jwt_secret_file=secret_file,
                    extra=extra,
                    env=env,
                ) as sidecar:
                    yield sidecar.proxy_url, {"agent": pid_of(agent), "sidecar": pid_of(sidecar)}

            return start

        @contextmanager
        def opa() -> Iterator[tuple[str, dict[str, int]]]:
            with BenchOpa(tmp / "opa", bundle) as server:
                print(f"(c) uses {server.version()} at {server.url}")
                with SidecarProcess(
                    tmp / "sidecar-opa",
                    upstream=agent.url,
                    engine=server.url,
                    bundle=bundle,
                    jwt_secret_file=secret_file,
                ) as sidecar:
                    yield (
                        sidecar.proxy_url,
                        {
                            "agent": pid_of(agent),
                            "sidecar": pid_of(sidecar),
                            "opa": pid_of(server),
                        },
                    )

        no_nginx = None if nginx_binary() else "nginx not found (apt-get install nginx-light)"
        targets = [
            Target("a", "(a) direct to the agent", direct),
            Target("p", "(p) plain proxy, no policy", plain),
            Target("x", "(x) nginx, plain proxy", nginx, skipped=no_nginx),
            Target(
                "b", "(b) sidecar, embedded engine", embedded("sidecar-embedded"), skipped=reason
            ),
            Target(
                "n",
                "(n) embedded, no decision cache",
                embedded("sidecar-nocache", "--decision-cache-ttl", "0"),
                skipped=reason,
            ),
            Target(
                "u",
                "(u) embedded, asyncio loop",
                embedded("sidecar-asyncio", "--event-loop", "asyncio"),
                skipped=reason,
            ),
            Target(
                "j",
                "(j) embedded, stdlib json",
                embedded("sidecar-stdlib-json", env={"GREENLANG_SIDECAR_ORJSON": "0"}),
                skipped=reason,
            ),
            Target("c", "(c) sidecar, OPA over HTTP", opa, skipped=reason),
        ]
        targets = sorted(
            (t for t in targets if t.key in args.only), key=lambda t: args.only.index(t.key)
        )
        phases = [(args.concurrency, args.processes)]
        if args.latency_concurrency and args.latency_concurrency != args.concurrency:
            phases.append((args.latency_concurrency, 1))
        for t in targets:
            if t.skipped:
                print(f"{t.label}: skipped, {t.skipped}")
        for round_no in range(1, args.rounds + 1):
            for t in targets:
                if not t.skipped:
                    measure(t, phases, args, Request(path, method, body, tuple(headers)), round_no)
        for t in targets:
            t.phases = best_phases(t.phases)
        print()
        first = next((t for t in targets if t.key == "a" and not t.skipped), None)
        print_table(targets, first)
        if first is not None:
            summary(targets, first, args.concurrency, args.latency_concurrency or args.concurrency)
        troubled = [t for t in targets if (t.skipped and t.skipped.startswith("failed"))
                    or any(p.result.failed for p in t.phases)]  # fmt: skip
        for t in troubled:
            print(f"{t.label}: requests failed; log tails:", file=sys.stderr)
            for name in LOG_DIRS[t.key]:
                for log in sorted((tmp / name).glob("*.log")):
                    print(f"--- {name}/{log.name}", file=sys.stderr)
                    for line in log_tail(log, 6).splitlines():
                        print("    " + (line if len(line) < 300 else line[:300] + " ..."),
                              file=sys.stderr)  # fmt: skip
        if args.keep_logs:
            print(f"logs kept in {tmp}")
        return 1 if troubled else 0
    finally:
        agent.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per phase")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each")
    p.add_argument("--concurrency", type=int, default=32, help="clients in the load phase")
    p.add_argument("--processes", type=int, default=2, help="load generator processes")
    p.add_argument(
        "--latency-concurrency",
        type=int,
        default=1,
        help="clients in the latency phase (0: no latency phase)",
    )
    p.add_argument("--path", default="POST /v1/calculate", help='"METHOD /path" to request')
    p.add_argument("--body", help="request body file (default for POST /v1/calculate: built in)")
    p.add_argument("--content-type", default="application/json")
    p.add_argument(
        "--only",
        default="a,p,x,b,n,c",
        help="targets, run in this order: a direct, p plain Python proxy, x nginx, b sidecar "
        "embedded, n embedded without the decision cache, u embedded on the asyncio loop, "
        "j embedded with stdlib json, c sidecar OPA",
    )
    p.add_argument(
        "--nginx-workers",
        default="1",
        help="nginx worker_processes (default 1: one core's worth, like the one-process "
        "Python proxies; 'auto' is one per CPU)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every target this many times, interleaved (a p x b ... a p x b ...), and "
        "keep each one's best round: on a busy machine the ratios then compare like with like",
    )
    p.add_argument("--keep-logs", action="store_true", help="keep the temp dir with server logs")
    args = p.parse_args(argv)
    args.only = [x.strip() for x in args.only.split(",") if x.strip()]
    if not set(args.only) <= set(TARGET_KEYS):
        p.error(f"--only takes a comma list of {', '.join(TARGET_KEYS)}")
    if args.nginx_workers != "auto" and not args.nginx_workers.isdigit():
        p.error("--nginx-workers must be a number or auto")
    if " " not in args.path.strip() or not args.path.split(" ", 1)[1].startswith("/"):
        p.error('--path must look like "POST /v1/calculate"')
    if min(args.duration, args.concurrency, args.processes, args.rounds) <= 0 or args.warmup < 0:
        p.error("duration, concurrency, processes and rounds must be positive")
    if args.latency_concurrency < 0:
        p.error("--latency-concurrency must be >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="glsidecarbench-"))
    try:
        return run(args, tmp)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if not args.keep_logs:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
