"""The soak's figures: availability and latency outside and inside each fault window, audit
events answered vs stored, recovery per fault, and whether each target holds."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from bench.loadgen import nearest_rank
from bench.soak_faults import Fault, Plan, Probe
from bench.soak_traffic import Sample

AVAILABILITY_TARGET = 0.999


@dataclass
class Audit:
    answered: int  # calls the sidecars answered: each must have one stored event
    stored: int  # of those, stored in the registry (by request id)
    lost: list[str]  # request ids answered but not stored
    duplicates: int  # request ids stored more than once
    verify_rc: int
    verify_out: str
    drain_s: float  # traffic end -> every event stored (or the wait limit)


@dataclass
class Row:
    name: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def availability(self) -> float:
        return sum(s.available for s in self.samples) / len(self.samples) if self.samples else 1.0

    def line(self) -> str:
        lat = sorted(s.latency for s in self.samples if s.available)
        bad = Counter(str(s.status or s.error) for s in self.samples if not s.available)
        return (
            f"| {self.name} | {len(self.samples)} | {100 * self.availability:.3f}% "
            f"| {1000 * nearest_rank(lat, 0.5):.1f} | {1000 * nearest_rank(lat, 0.99):.1f} "
            f"| {dict(bad) or '-'} |"
        )


def rows(samples: list[Sample], p: Plan) -> tuple[Row, list[Row]]:
    outside, inside = Row("outside fault windows"), {f.name: Row(f.name) for f in p.faults}
    for s in samples:
        f = p.fault_at(s.at)
        (inside[f.name] if f else outside).samples.append(s)
    return outside, list(inside.values())


def recovery(samples: list[Sample], f: Fault) -> float | None:
    """Fault end -> the answer of the first good call (to an agent it affects) sent after it."""
    scope = f.affects or {s.agent_id for s in samples}
    after = [s for s in samples if s.at >= f.end and s.agent_id in scope and s.available]
    if not after:
        return None
    first = min(after, key=lambda s: s.at)
    return first.at + first.latency - f.end


def registry_view(probe: Probe, f: Fault, grace_s: float) -> str:
    """What the registry answered from the fault's start to its end + grace; and the first 200
    after the end."""
    seen = [(t, st, ra) for t, st, ra in probe.seen if f.start <= t < f.end + grace_s]
    statuses = Counter(str(st) if st else "no answer" for _, st, _ in seen)
    no_retry = sum(1 for _, st, ra in seen if st == 503 and not ra)
    first_ok = next((t for t, st, _ in probe.seen if t >= f.end and st == 200), None)
    back = f"{first_ok - f.end:.1f} s" if first_ok is not None else "never"
    extra = f", 503 without Retry-After: {no_retry}" if no_retry else ""
    return f"{dict(statuses)}{extra}; first 200 after the fault: {back}"


def report(samples: list[Sample], p: Plan, probe: Probe, audit: Audit, header: str) -> bool:
    """Print the table; True when every target holds."""
    outside, inside = rows(samples, p)
    print(f"\n## {header}\n")
    print("| calls | n | available | p50 ms | p99 ms | not available (status/error: n) |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    print(outside.line())
    for r in inside:
        print(r.line())
    print("\n| fault | at s | lasted s | controller restart s | first good call after s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for f in p.faults:
        rec = recovery(samples, f)
        restart = f"{f.restart_s:.1f}" if f.restart_s is not None else "-"
        back = f"{rec:.2f}" if rec is not None else "never"
        what = f"{f.name} ({f.detail})" if f.detail else f.name
        print(f"| {what} | {f.start:.0f} | {f.end - f.start:.1f} | {restart} | {back} |")
    probe_500 = sum(1 for _, st, _ in probe.seen if st is not None and st >= 500 and st != 503)
    for f in p.faults:
        if f.name in ("PostgreSQL stopped", "registry stopped"):
            print(f"- registry during '{f.name}': {registry_view(probe, f, p.grace_s)}")
    by_kind: dict[str, Counter[str]] = {}
    for s in samples:
        by_kind.setdefault(s.kind, Counter())[str(s.status or s.error)] += 1
    print("- answers by kind of call: " + "; ".join(f"{k} {dict(c)}" for k, c in by_kind.items()))
    print(
        f"- audit events: {audit.answered} answered calls, {audit.stored} stored, "
        f"lost {len(audit.lost)}, duplicated {audit.duplicates}; all stored "
        f"{audit.drain_s:.1f} s after the traffic ended"
    )
    if audit.lost:
        print(f"  lost (first 10): {audit.lost[:10]}")
    verdict = "passes" if audit.verify_rc == 0 else f"FAILS ({audit.verify_rc})"
    print(f"- `greenlang-registry audit verify`: {verdict}: {audit.verify_out.splitlines()[-1:]}")
    checks = {
        f"availability outside fault windows >= {100 * AVAILABILITY_TARGET:.1f}%": (
            outside.availability >= AVAILABILITY_TARGET
        ),
        "audit events lost = 0": not audit.lost,
        "audit verify passes": audit.verify_rc == 0,
        "registry never answered 5xx other than 503": probe_500 == 0,
        "every fault recovered": all(recovery(samples, f) is not None for f in p.faults),
    }
    print()
    for name, ok in checks.items():
        print(f"- {'PASS' if ok else 'MISS'}: {name}")
    return all(checks.values())
