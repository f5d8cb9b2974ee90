"""The one load generator, CPU meter and percentile definition of the benches.

    from bench.loadgen import LoadSpec, run_load
    result = run_load(LoadSpec(url="http://127.0.0.1:9000/v1/calculate", body=b"{...}",
                               concurrency=32, processes=2, duration=10, warmup=2))
    result.throughput, result.p50, result.p99

`processes` spawned processes (own interpreter, own GIL) each run an asyncio loop with one
keep-alive aiohttp session and their share of `concurrency` clients. All processes start
together (ready handshake, then a common wall-clock start). Two ways to drive:

* timed (no `paths`): every client sends a request to `url`, reads the whole response and sends
  the next one at once (closed loop); `warmup` seconds unmeasured, then `duration` seconds
  measured: a request counts when it both starts and ends inside the measured window, so
  throughput = counted requests / duration.
* a request list (`paths`, appended to `url`): each path is sent once, split across the
  processes. Closed loop: `concurrency` clients take the next path as they get an answer. Open
  loop (`rate` > 0): path i is sent at start + i / rate whatever the server does, and its
  latency counts from that scheduled time (no coordinated omission). `duration` caps the phase;
  throughput = answered requests / time to the last answer.

Latency is from just before the request is sent (or its scheduled time) to the last body byte
read. A response with another status than `expect_status` or a failed request counts as an
error and is not in the latencies.

CPU: `watch` (name -> pid) reports each server process's CPU (psutil, children included) over
the measured window, and `client_cpu` the load generator's own, so a table can show where the
cores went. `CpuMeter` does the same for phases a bench runs in its own process.

Percentiles, for every bench: `nearest_rank` (the value at rank floor(q * n) of the sorted
samples, 0-based, capped at the last), no interpolation between samples.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing as mp
import queue
import threading
import time
from array import array
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

READY_TIMEOUT_S = 60.0
START_DELAY_S = 0.2


@dataclass(frozen=True)
class LoadSpec:
    url: str
    method: str = "GET"
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    concurrency: int = 32
    processes: int = 1
    duration: float = 10.0
    warmup: float = 2.0
    expect_status: int = 200
    request_timeout: float = 30.0
    paths: tuple[str, ...] = ()  # a request list, each sent once (see the module docstring)
    rate: float = 0.0  # open loop: requests per second over all processes (with `paths`)
    # timed mode over several endpoints: (url, body) pairs taken in turn by all clients of a
    # process (each process starts at another offset); `url` and `body` are then unused
    targets: tuple[tuple[str, bytes | None], ...] = ()


def nearest_rank(ordered: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of sorted values by nearest rank; nan when there are none. The one
    percentile definition of every bench (bench/README.md, Percentiles)."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class LoadResult:
    latencies: list[float]  # seconds, sorted ascending
    duration: float
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # exception type -> count
    client_cpu: float = 0.0  # CPU seconds of the load generator processes in the window
    server_cpu: dict[str, float] = field(default_factory=dict)  # name -> CPU seconds

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def failed(self) -> int:
        return sum(self.statuses.values()) - self.count + sum(self.errors.values())

    @property
    def throughput(self) -> float:
        return self.count / self.duration

    def pct(self, q: float) -> float:
        return nearest_rank(self.latencies, q)

    @property
    def p50(self) -> float:
        return self.pct(0.50)

    @property
    def p99(self) -> float:
        return self.pct(0.99)

    def cpu_percent(self, name: str) -> float:
        """CPU of `name` ("client" for the load generator) as % of one core."""
        seconds = self.client_cpu if name == "client" else self.server_cpu.get(name, 0.0)
        return 100.0 * seconds / self.duration


# ---------------------------------------------------------------------------------------------
# worker process


@dataclass
class _Tally:
    """What one worker process measured."""

    latencies: array = field(default_factory=lambda: array("d"))
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    last_end: float = 0.0  # perf_counter of the last answer

    def add(self, status: int, latency: float, expect: int) -> None:
        self.statuses[status] += 1
        if status == expect:
            self.latencies.append(latency)


async def _send(session: Any, spec: LoadSpec, url: str, body: bytes | None = None) -> int | str:
    """The answer's status, or the failure's exception type name."""
    try:
        headers = dict(spec.headers)
        data = spec.body if body is None else body
        async with session.request(spec.method, url, data=data, headers=headers) as r:
            await r.read()
            return int(r.status)
    except Exception as exc:  # counted by the caller
        return type(exc).__name__


async def _timed(session: Any, spec: LoadSpec, clients: int, t_from: float, t_to: float) -> _Tally:
    """Closed loop on `spec.url` until `t_to`; what starts and ends in [t_from, t_to] counts."""
    tally, clock = _Tally(), time.perf_counter
    targets = itertools.cycle(spec.targets or ((spec.url, spec.body),))

    async def client() -> None:
        while (t0 := clock()) < t_to:
            got = await _send(session, spec, *next(targets))
            t1 = clock()
            if isinstance(got, str):
                if t0 >= t_from and t1 <= t_to:
                    tally.errors[got] += 1
                await asyncio.sleep(0.01)
            elif t0 >= t_from and t1 <= t_to:
                tally.add(got, t1 - t0, spec.expect_status)

    await asyncio.gather(*(client() for _ in range(clients)))
    return tally


async def _listed(session: Any, spec: LoadSpec, clients: int, t_from: float, t_to: float) -> _Tally:
    """Each of `spec.paths` once: closed loop, or open loop at `spec.rate` from `t_from`."""
    tally, clock = _Tally(), time.perf_counter

    async def one(path: str, t0: float) -> None:
        got = await _send(session, spec, spec.url + path)
        tally.last_end = clock()
        if isinstance(got, str):
            tally.errors[got] += 1
        else:
            tally.add(got, tally.last_end - t0, spec.expect_status)

    paths = iter(spec.paths)  # shared: every path is sent exactly once

    async def client() -> None:
        for path in paths:
            if clock() > t_to:
                return
            await one(path, clock())

    async def scheduled(path: str, at: float) -> None:
        await asyncio.sleep(at - clock())
        if at <= t_to:
            await one(path, at)

    if spec.rate > 0:
        gap = 1.0 / spec.rate
        await asyncio.gather(*(scheduled(p, t_from + i * gap) for i, p in enumerate(spec.paths)))
    else:
        await asyncio.gather(*(client() for _ in range(clients)))
    return tally


async def _drive(spec: LoadSpec, clients: int, ready: Any, go: Any, start_at: Any) -> tuple:
    import aiohttp  # imported in the worker: the parent need not load it

    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=spec.request_timeout)
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        skip_auto_headers=("User-Agent",),
        cookie_jar=aiohttp.DummyCookieJar(),
    ) as session:
        ready.put(True)
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        clock = time.perf_counter
        offset = clock() - time.time()
        t_from = start_at.value + spec.warmup + offset
        t_to = t_from + spec.duration
        await asyncio.sleep(max(0.0, start_at.value + offset - clock()))
        drive = _listed if spec.paths else _timed
        cpu = [0.0, 0.0]

        async def cpu_window() -> None:
            await asyncio.sleep(max(0.0, t_from - clock()))
            cpu[0] = time.process_time()
            await asyncio.sleep(max(0.0, t_to - clock()))
            cpu[1] = time.process_time()

        if spec.paths:  # the window is the run itself
            cpu[0] = time.process_time()
            tally = await drive(session, spec, clients, t_from, t_to)
            cpu[1] = time.process_time()
        else:
            _, tally = await asyncio.gather(
                cpu_window(), drive(session, spec, clients, t_from, t_to)
            )
    ran = tally.last_end - t_from if spec.paths else spec.duration
    return tally.latencies.tobytes(), dict(tally.statuses), dict(tally.errors), cpu[1] - cpu[0], ran


def _worker(spec: LoadSpec, clients: int, ready: Any, go: Any, start_at: Any, out: Any) -> None:
    try:
        result = asyncio.run(_drive(spec, clients, ready, go, start_at))
    except BaseException as exc:
        ready.put(False)
        out.put(("error", repr(exc)))
        return
    out.put(("ok", result))


# ---------------------------------------------------------------------------------------------
# parent


def cpu_seconds(pid: int, children: bool = True) -> float:
    """User + system CPU seconds of `pid` (and its children); 0 once it is gone."""
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)] if children else [proc]
    except psutil.Error:
        return 0.0
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def rss_bytes(pid: int) -> int:
    """Resident set size of `pid` (psutil); 0 once it is gone."""
    import psutil

    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return 0


class CpuMeter:
    """CPU seconds of named processes (children included) and of this process between `start`
    and `stop`: for phases a bench runs in its own process rather than through `run_load`."""

    def __init__(self, watch: Mapping[str, int], own: str | None = "bench") -> None:
        self.watch = dict(watch)
        self.own = own
        self._before: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        now = {name: cpu_seconds(pid) for name, pid in self.watch.items()}
        if self.own:
            now[self.own] = time.process_time()
        return now

    def start(self) -> None:
        self._before = self._now()

    def stop(self) -> dict[str, float]:
        return {k: v - self._before.get(k, 0.0) for k, v in self._now().items()}


def _shares(total: int, parts: int) -> list[int]:
    return [total // parts + (i < total % parts) for i in range(parts)]


def _worker_specs(spec: LoadSpec) -> list[tuple[LoadSpec, int]]:
    """(spec, clients) per process: clients, paths and rate split evenly; targets rotated."""
    n = min(spec.processes, spec.concurrency)
    if spec.paths:
        n = max(1, min(n, len(spec.paths)))
    out = []
    for i, clients in enumerate(_shares(spec.concurrency, n)):
        part = replace(spec, paths=spec.paths[i::n], rate=spec.rate / n) if spec.paths else spec
        if spec.targets:  # every process covers every target, from its own offset
            offset = i * len(spec.targets) // n
            part = replace(part, targets=spec.targets[offset:] + spec.targets[:offset])
        out.append((part, clients))
    return out


def _await_ready(workers: list[Any], ready: Any, out: Any) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    started = 0
    while started < len(workers):
        try:
            ok = ready.get(timeout=0.2)
        except queue.Empty:
            dead = [w.exitcode for w in workers if w.exitcode is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"load generator did not start (exit codes {dead})") from None
            continue
        if not ok:
            _kind, detail = out.get(timeout=5)
            raise RuntimeError(f"load generator failed to start: {detail}")
        started += 1


def _window_timers(
    spec: LoadSpec, start_at: float, watch: Mapping[str, int], server_cpu: dict[str, float]
) -> list[threading.Timer]:
    """Timers that read the watched processes' CPU at both ends of the measured window."""
    meter = CpuMeter(watch, own=None)
    window_from = start_at + spec.warmup

    def after() -> None:
        server_cpu.update(meter.stop())

    return [
        threading.Timer(max(0.0, window_from - time.time()), meter.start),
        threading.Timer(max(0.0, window_from + spec.duration - time.time()), after),
    ]


def run_load(spec: LoadSpec, watch: Mapping[str, int] | None = None) -> LoadResult:
    """Drive `spec` and return the merged result of every load generator process."""
    if spec.concurrency < 1 or spec.processes < 1:
        raise ValueError("concurrency and processes must be >= 1")
    ctx = mp.get_context("spawn")
    ready, out = ctx.Queue(), ctx.Queue()
    go = ctx.Event()
    start_at = ctx.Value("d", 0.0)
    workers = [
        ctx.Process(target=_worker, args=(part, n, ready, go, start_at, out), daemon=True)
        for part, n in _worker_specs(spec)
    ]
    timers: list[threading.Timer] = []
    server_cpu: dict[str, float] = {}
    listed = CpuMeter(watch or {}, own=None)
    for w in workers:
        w.start()
    try:
        _await_ready(workers, ready, out)
        start_at.value = time.time() + START_DELAY_S
        if watch and not spec.paths:
            timers = _window_timers(spec, start_at.value, watch, server_cpu)
        for t in timers:
            t.start()
        listed.start()
        go.set()
        results = []
        wait_s = START_DELAY_S + spec.warmup + spec.duration + spec.request_timeout + 30
        for _ in workers:
            kind, payload = out.get(timeout=wait_s)
            if kind != "ok":
                raise RuntimeError(f"load generator failed: {payload}")
            results.append(payload)
        if watch and spec.paths:
            server_cpu = listed.stop()
        for t in timers:
            t.join()
    finally:
        for t in timers:
            t.cancel()
        for w in workers:
            w.join(timeout=5)
            if w.is_alive():
                w.kill()
                w.join()
    return _merge(spec, results, server_cpu)


def _merge(spec: LoadSpec, results: list[tuple], server_cpu: dict[str, float]) -> LoadResult:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    client_cpu = 0.0
    ran = 0.0
    for raw, st, err, cpu, seconds in results:
        part = array("d")
        part.frombytes(raw)
        latencies.extend(part)
        statuses.update(st)
        errors.update(err)
        client_cpu += cpu
        ran = max(ran, seconds)
    latencies.sort()
    duration = ran if spec.paths else spec.duration
    return LoadResult(latencies, duration, statuses, errors, client_cpu, server_cpu)
