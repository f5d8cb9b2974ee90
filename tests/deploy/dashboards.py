"""Read the Grafana dashboards the way Grafana does: every panel's PromQL target (rows included)
and every query variable, with template variables replaced by concrete values."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"

# What Grafana would put in for the built-in variables at a 1h range and a 1m step.
BUILTINS = {"__rate_interval": "5m", "__range": "1h", "__interval": "1m"}
LABEL_VALUES = re.compile(r"^label_values\((?P<expr>.*),\s*(?P<label>[a-zA-Z_]\w*)\)$", re.S)
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")


@dataclass(frozen=True)
class Query:
    dashboard: str  # file stem
    panel: str  # panel title, or "variable <name>"
    ref: str  # refId
    raw: str  # as written in the JSON

    @property
    def key(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref}"


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def panels(board: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # a collapsed row holds its panels


def queries(path: Path) -> Iterator[Query]:
    """Every PromQL expression of a dashboard: panel targets, and each query variable's
    `label_values(expr, label)` as the PromQL Grafana runs for it (`count by (label) (expr)`)."""
    board = load(path)
    for panel in panels(board):
        for target in panel.get("targets", []):
            yield Query(path.stem, panel["title"], target["refId"], target["expr"])
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]
            text = query["query"] if isinstance(query, dict) else query
            m = LABEL_VALUES.match(text.strip())
            assert m, f"{path.name}: variable {var['name']}: only label_values(expr, label) is used"
            expr = f"count by ({m['label']}) ({m['expr']})"
            yield Query(path.stem, f"variable {var['name']}", "var", expr)


def variable_defaults(board: Mapping[str, Any]) -> dict[str, str]:
    """Text-box variables (the price table) at the values the dashboard ships with."""
    return {v["name"]: v["query"] for v in board["templating"]["list"] if v["type"] == "textbox"}


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Replace `$name` / `${name}`; an unknown variable is an error (a typo in a panel)."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in values:
            raise KeyError(f"no value for template variable ${name} in {expr!r}")
        return values[name]

    return VARIABLE.sub(one, expr)


def metric_names(expr: str) -> set[str]:
    """Metric names a query selects (every selector in our dashboards has label matchers)."""
    return set(SELECTOR.findall(expr))
