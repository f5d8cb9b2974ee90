"""Run PromQL through `promtool test rules` (promql_expr_test) over synthetic series."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from tests.deploy.synthetic import EVAL_TIME, SERIES
from tests.support.servers import find_binary

Sample = tuple[str, float]  # ('{label="value", ...}', value)


def test_file(cases: Sequence[tuple[str, Sequence[Sample]]], series: Mapping[str, str]) -> dict:
    return {
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in series.items()],
                "promql_expr_test": [
                    {
                        "expr": expr,
                        "eval_time": EVAL_TIME,
                        "exp_samples": [
                            {"labels": labels, "value": value} for labels, value in want
                        ],
                    }
                    for expr, want in cases
                ],
            }
        ],
    }


def run(
    cases: Sequence[tuple[str, Sequence[Sample]]],
    workdir: Path,
    series: Mapping[str, str] = SERIES,
) -> subprocess.CompletedProcess[str]:
    path = workdir / "dashboard_test.yml"
    path.write_text(yaml.safe_dump(test_file(cases, series), sort_keys=False, width=10_000))
    return subprocess.run(
        [find_binary("promtool"), "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
