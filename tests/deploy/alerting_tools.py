"""The real promtool/amtool (Go-built by .ci/install.sh into ~/.cache/greenlang/bin) and the
deploy/ files they check. A missing tool fails the tests: they are the only check of these files."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.servers import find_binary

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
ALERTS = PROMETHEUS_DIR / "rules" / "alerts.yml"
RECORDING = PROMETHEUS_DIR / "rules" / "recording.yml"
ALERT_TESTS = PROMETHEUS_DIR / "tests" / "alerts_test.yml"
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"


def run(tool: str, *args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``tool`` (promtool or amtool) from the cache; its output is returned, not checked."""
    argv = [find_binary(tool), *map(str, args)]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)


def alert_rules(path: Path = ALERTS) -> list[dict[str, Any]]:
    """Every alerting rule of a rule file, in order."""
    groups = yaml.safe_load(path.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]
