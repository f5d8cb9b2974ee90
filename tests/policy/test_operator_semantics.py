"""What each clause operator means, on both engines: a generated policy per operator whose
rule fires exactly when its condition clause holds, over present, null, missing and
wrong-typed fields."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bundles.compiler import compile_to_dir
from bundles.engines.embedded import EmbeddedEngine
from bundles.engines.opa_http import OpaHttpEngine
from bundles.layout import REGO_DIR, STOCK_DATA_DIR
from tests.policy.opa import OpaServer

MISSING = object()

OPERATORS: dict[str, str | None] = {
    "equals": "ok",
    "not_equals": "ok",
    "in": "[ok, 1]",
    "not_in": "[ok, 1]",
    "not_null": None,
    "is_null": None,
    "gt": "10",
    "gte": "10",
    "lt": "10",
    "lte": "10",
    "matches": "'^o'",
    "contains": "ok",
}

# (value of request.probe, the operators that hold for it): the documented semantics
# (docs/policies.md). A missing field: only is_null holds; null: not_null does not.
TABLE: list[tuple[Any, str]] = [
    ("ok", "equals in not_null matches contains"),
    ("no", "not_equals not_in not_null"),
    ("book", "not_equals not_in not_null contains"),  # substring
    (10, "not_equals not_in not_null gte lte"),
    (1.0, "not_equals in not_null lt lte"),  # 1.0 == 1
    ("10", "not_equals not_in not_null"),  # a string is not a number
    (["ok", "x"], "not_equals not_in not_null contains"),  # list membership
    ('"ok"', "not_equals not_in not_null"),  # not plain text: string operators never match
    ("ok" + "o" * 300, "not_equals not_in not_null contains"),  # too long for matches
    (None, "not_equals not_in is_null"),
    (MISSING, "is_null"),
]


def probe_policy(op: str, value: str | None) -> str:
    value_line = f"\n      value: {value}" if value is not None else ""
    return f"""\
policy_id: probe-{op.replace("_", "-")}
type: retention
name: Probe {op}
description: Fires when request.probe {op} holds.
rules:
  - condition:
      field: request.probe
      operator: {op}{value_line}
    requirement:
      field: action
      operator: equals
      value: never
enforcement: deny
enabled: true
"""


@pytest.fixture(scope="module")
def probe_paths(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    src = tmp_path_factory.mktemp("probe-src")
    for op, value in OPERATORS.items():
        (src / f"{op}.yaml").write_text(probe_policy(op, value))
    out = tmp_path_factory.mktemp("probe-out") / "compiled"
    compile_to_dir([src], out)
    return [REGO_DIR, out, STOCK_DATA_DIR]


@pytest.fixture(scope="module")
def probe_server(
    probe_paths: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OpaServer]:
    with OpaServer(probe_paths, tmp_path_factory.mktemp("probe-opa")) as server:
        yield server


@pytest.fixture
async def engines(probe_paths: list[Path], probe_server: OpaServer) -> AsyncIterator[list[Any]]:
    http = OpaHttpEngine(probe_server.url)
    yield [EmbeddedEngine.from_paths(probe_paths), http]
    await http.close()


@pytest.mark.parametrize(("value", "holds"), TABLE, ids=[repr(v)[:20] for v, _ in TABLE])
async def test_operator_semantics(value: Any, holds: str, engines: list[Any]) -> None:
    request = {} if value is MISSING else {"probe": value}
    decision_input = {"request": request, "policy_types": ["retention"], "action": "x"}
    for engine in engines:
        decision = await engine.decide(decision_input)
        fired = {
            v["policy_id"].removeprefix("probe-").replace("-", "_") for v in decision["violations"]
        }
        assert fired == set(holds.split()), (type(engine).__name__, decision)
