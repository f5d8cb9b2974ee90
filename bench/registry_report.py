"""What the registry bench prints: one result row per phase (latencies by `nearest_rank`, the
benches' one percentile definition), CPU shares, and the summary against the targets."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bench.loadgen import nearest_rank

GET_TARGET_P95_MS = 10.0
SEARCH_TARGET_P95_MS = 25.0


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
        """The q-th percentile (0..100) in ms, by nearest rank."""
        return nearest_rank(self.lat_ms, q / 100)

    def row(self) -> str:
        return (
            f"{self.name:<42} {self.n:>6} {self.concurrency:>4} {self.rps:>8.0f}"
            f" {self.p(50):>8.2f} {self.p(95):>8.2f} {self.p(99):>8.2f} {self.lat_ms[-1]:>8.1f}"
            f" {self.errors:>5}"
            if self.lat_ms
            else f"{self.name:<42} no samples"
        )

    def cpu_line(self) -> str:
        if not self.cpu or self.wall_s <= 0:
            return ""
        parts = [f"{k} {100 * v / self.wall_s:.0f}%" for k, v in self.cpu.items()]
        return f"    cpu (100% = one core): {', '.join(parts)}"


HEADER = (
    f"{'phase':<42} {'n':>6} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}"
    f" {'p99 ms':>8} {'max ms':>8} {'err':>5}"
)


def log(msg: str = "") -> None:
    print(msg, flush=True)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b > 0 else "n/a"


def verdicts(checks: list[tuple[str, Result, float]]) -> None:
    """One PASS/MISS line per (name, result, p95 limit in ms)."""
    log(f"{'check':<44} {'measured':>10} {'target':>8}  verdict")
    for name, res, limit in checks:
        verdict = "PASS" if res.p(95) < limit and res.errors == 0 else "MISS"
        log(f"{name:<44} {res.p(95):>8.2f}ms {limit:>6.0f}ms  {verdict}")


def api_vs_baseline(
    kind: str,
    api: Result,
    api1: Result,
    db: dict[str, Result],
    name: str,
    other: tuple[str, str] | None,
) -> None:
    """The API's latency and throughput as ratios of what it runs (the baseline phase `name`,
    and `name` + " c=1"), measured in the same run; `other`: (label, a second baseline)."""
    base, base1 = db[name], db[name + " c=1"]
    vs = f"; {other[0]} p95 {ratio(api.p(95), db[other[1]].p(95))}" if other else ""
    log(
        f"API/baseline  {kind:<8} p50 {ratio(api.p(50), base.p(50))}, "
        f"p95 {ratio(api.p(95), base.p(95))}, "
        f"throughput {base.rps:.0f} -> {api.rps:.0f} req/s "
        f"(c=1 p50 {ratio(api1.p(50), base1.p(50))}{vs})"
    )
