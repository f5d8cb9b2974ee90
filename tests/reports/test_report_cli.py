"""`greenlang-governance report compliance` as a user runs it, against the real registry."""

from __future__ import annotations

import json
from pathlib import Path

from tests.api.conftest import Api
from tests.api.test_governance_cli import gov, registry_env
from tests.reports.seed import PERIOD, SCORES, A, expected_counts, seed

DATES = ("--from", PERIOD["from"], "--to", PERIOD["to"])


async def test_json_to_stdout_and_files_in_each_format(api: Api, tmp_path: Path) -> None:
    await seed(api)
    env = registry_env(api, "viewer")
    code, out, err = await gov("report", "compliance", "--agent", A, *DATES, env=env)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["totals"]["calls"] == expected_counts()[A]["calls"]
    assert doc["score"] == SCORES[A]
    for fmt in ("html", "policyreport"):
        target = tmp_path / f"report.{fmt}"
        args = ("--scope", "CBAM", *DATES, "--format", fmt, "--output", str(target))
        code, out, err = await gov("report", "compliance", *args, env=env)
        assert (code, out) == (0, f"wrote {target}\n"), err
    assert target.read_text().startswith("{")
    assert json.loads(target.read_text())["kind"] == "PolicyReport"
    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")


async def test_bad_input_is_one_line_and_exit_2(api: Api) -> None:
    env = registry_env(api, "viewer")
    cases = [
        ("--agent", "gl-nobody", *DATES),  # 404 from the registry
        ("--from", "2026-11-24", "--to", "2026-11-01"),
        ("--from", "2000-01-01", "--to", "2026-12-31"),  # 422: over ten years
    ]
    for args in cases:
        code, out, err = await gov("report", "compliance", *args, env=env)
        assert code == 2 and out == "", err
        assert err.count("\n") == 1 and err.startswith("error: "), err
    code, _, err = await gov("report", "compliance", "--from", "soon", "--to", "2026-01-01")
    assert code == 2 and "is not a date" in err
    code, _, err = await gov("report", "compliance", "--agent", "a", "--team", "t", *DATES)
    assert code == 2 and "not allowed with" in err
