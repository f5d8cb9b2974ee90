"""The report bench cannot rot: its smallest run works end to end on a real database (the
intake, the backfill check against it, the chain re-hash, every report case)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bench import report_bench

BENCH = Path(report_bench.__file__)


def test_the_bench_parses_its_defaults() -> None:
    args = report_bench.parse_args([])
    assert (args.events, args.days) == (10_000_000, 365)


async def test_a_small_run(database_url: str) -> None:
    args = ["--events", "30000", "--agents", "4", "--days", "30", "--intake-events", "600"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BENCH),
        *args,
        "--reps",
        "1",
        "--database-url",
        database_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0, err.decode()[-3000:]
    text = out.decode()
    assert "rollups for 30,000 events: 240 decision rows" in text
    assert "chain ok=True" in text
    assert text.count("report ") == 7 and "totals: 30,600 calls" in text
