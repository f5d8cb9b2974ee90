"""A small multi-process HTTP load generator (closed loop, keep-alive), used by the benches.

    from bench.loadgen import LoadSpec, run_load
    result = run_load(LoadSpec(url="http://127.0.0.1:9000/v1/calculate", body=b"{...}",
                               concurrency=32, processes=2, duration=10, warmup=2))
    result.throughput, result.p50, result.p99

`processes` spawned processes (own interpreter, own GIL) each run an asyncio loop with one
keep-alive aiohttp session and their share of `concurrency` clients. Every client sends a
request, reads the whole response, and sends the next one at once (closed loop). All processes
start together (ready handshake, then a common wall-clock start), run `warmup` seconds
unmeasured, then `duration` seconds measured: a request counts when it both starts and ends
inside the measured window, so throughput = counted requests / duration. Latency is from just
before the request is sent to the last body byte read. A response with another status than
`expect_status` or a failed request counts as an error and is not in the latencies.

`watch` (name -> pid) reports each server process's CPU use over the measured window (psutil,
children included), so a table can show where the cores went.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import queue
import threading
import time
from array import array
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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


def nearest_rank(ordered: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of sorted values by nearest rank; nan when there are none."""
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


async def _drive(spec: LoadSpec, clients: int, ready: Any, go: Any, start_at: Any) -> tuple:
    import aiohttp  # imported in the worker: the parent need not load it

    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=spec.request_timeout)
    latencies = array("d")
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    cpu = [0.0, 0.0]
    headers = dict(spec.headers)
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        skip_auto_headers=("User-Agent",),
        cookie_jar=aiohttp.DummyCookieJar(),
    ) as session:
        ready.put(True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, go.wait)
        clock = time.perf_counter
        offset = clock() - time.time()
        t_from = start_at.value + spec.warmup + offset
        t_to = t_from + spec.duration

        async def client() -> None:
            while True:
                t0 = clock()
                if t0 >= t_to:
                    return
                try:
                    async with session.request(
                        spec.method, spec.url, data=spec.body, headers=headers
                    ) as resp:
                        await resp.read()
                        status = resp.status
                except Exception as exc:  # counted, then the client goes on
                    if t0 >= t_from and clock() <= t_to:
                        errors[type(exc).__name__] += 1
                    await asyncio.sleep(0.01)
                    continue
                t1 = clock()
                if t0 >= t_from and t1 <= t_to:
                    statuses[status] += 1
                    if status == spec.expect_status:
                        latencies.append(t1 - t0)

        async def cpu_window() -> None:
            await asyncio.sleep(max(0.0, t_from - clock()))
            cpu[0] = time.process_time()
            await asyncio.sleep(max(0.0, t_to - clock()))
            cpu[1] = time.process_time()

        await asyncio.sleep(max(0.0, start_at.value + offset - clock()))
        await asyncio.gather(cpu_window(), *(client() for _ in range(clients)))
    return latencies.tobytes(), dict(statuses), dict(errors), cpu[1] - cpu[0]


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


def _cpu_seconds(pid: int) -> float:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
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


def run_load(spec: LoadSpec, watch: Mapping[str, int] | None = None) -> LoadResult:
    """Drive `spec` and return the merged result of every load generator process."""
    if spec.concurrency < 1 or spec.processes < 1:
        raise ValueError("concurrency and processes must be >= 1")
    processes = min(spec.processes, spec.concurrency)
    shares = [spec.concurrency // processes + (i < spec.concurrency % processes)
              for i in range(processes)]  # fmt: skip
    ctx = mp.get_context("spawn")
    ready, out = ctx.Queue(), ctx.Queue()
    go = ctx.Event()
    start_at = ctx.Value("d", 0.0)
    workers = [
        ctx.Process(target=_worker, args=(spec, n, ready, go, start_at, out), daemon=True)
        for n in shares
    ]
    timers: list[threading.Timer] = []
    for w in workers:
        w.start()
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        started = 0
        while started < len(workers):
            try:
                ok = ready.get(timeout=0.2)
            except queue.Empty:
                dead = [w.exitcode for w in workers if w.exitcode is not None]
                if dead or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"load generator did not start (exit codes {dead})"
                    ) from None
                continue
            if not ok:
                _kind, detail = out.get(timeout=5)
                raise RuntimeError(f"load generator failed to start: {detail}")
            started += 1
        start_at.value = time.time() + START_DELAY_S
        server_cpu: dict[str, float] = {}
        if watch:
            window_from = start_at.value + spec.warmup
            before: dict[str, float] = {}

            def snap_before() -> None:
                before.update({name: _cpu_seconds(pid) for name, pid in watch.items()})

            def snap_after() -> None:
                for name, pid in watch.items():
                    server_cpu[name] = _cpu_seconds(pid) - before.get(name, 0.0)

            timers = [
                threading.Timer(max(0.0, window_from - time.time()), snap_before),
                threading.Timer(max(0.0, window_from + spec.duration - time.time()), snap_after),
            ]
            for t in timers:
                t.start()
        go.set()
        results = []
        wait_s = START_DELAY_S + spec.warmup + spec.duration + spec.request_timeout + 30
        for _ in workers:
            kind, payload = out.get(timeout=wait_s)
            if kind != "ok":
                raise RuntimeError(f"load generator failed: {payload}")
            results.append(payload)
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
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    client_cpu = 0.0
    for raw, st, err, cpu in results:
        part = array("d")
        part.frombytes(raw)
        latencies.extend(part)
        statuses.update(st)
        errors.update(err)
        client_cpu += cpu
    latencies.sort()
    return LoadResult(latencies, spec.duration, statuses, errors, client_cpu, server_cpu)
