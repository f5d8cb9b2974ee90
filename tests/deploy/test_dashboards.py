"""The Grafana dashboards (deploy/grafana/dashboards) are checked by running their PromQL.

Every panel target and every query variable, with the template variables set to concrete values,
is evaluated by `promtool test rules` over synthetic series that use the exact names and labels
our code exports (tests/deploy/synthetic.py), and must give the expected, non-empty result below.
A renamed metric or label, a missing `job` filter (the SDK's copies of the invocation series
would double count) or a broken join fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy import promtool
from tests.deploy.dashboards import (
    BUILTINS,
    Query,
    files,
    load,
    panels,
    queries,
    substitute,
    variable_defaults,
)
from tests.deploy.expected import EXPECTED

# Multi-value variables as Grafana formats them for Prometheus (regex alternation); "All" is .*
SELECTED = {
    "agent_id": "(cbam-calculator|csrd-reporter)",
    "team": ".*",
    "regulation": ".*",
    "route": ".*",
}


def concrete(path: Path, query: Query) -> str:
    values = {**BUILTINS, **SELECTED, **variable_defaults(load(path))}
    return substitute(query.raw, values)


def all_queries() -> list[tuple[Path, Query]]:
    return [(path, q) for path in files() for q in queries(path)]


def test_five_dashboards_with_unique_uids_and_panel_ids() -> None:
    boards = [load(p) for p in files()]
    assert len(boards) == 5
    assert len({b["uid"] for b in boards}) == 5
    for board in boards:
        ids = [p["id"] for p in panels(board)]
        assert len(ids) == len(set(ids)), board["uid"]
        for p in panels(board):
            if p["type"] != "row":
                assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
                assert p["targets"] and p["description"], p["title"]


def test_every_query_has_an_expected_result() -> None:
    keys = [q.key for _, q in all_queries()]
    assert len(keys) == len(set(keys)), "two targets share a key: give panels unique titles"
    assert sorted(EXPECTED) == sorted(keys)
    for key, samples in EXPECTED.items():
        assert samples, f"{key}: an empty result proves nothing"


@pytest.mark.parametrize("path", files(), ids=lambda p: p.stem)
def test_panels_evaluate_to_the_expected_series(path: Path, tmp_path: Path) -> None:
    cases = [(concrete(path, q), EXPECTED[q.key]) for q in queries(path)]
    done = promtool.run(cases, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_renamed_metric_or_label_fails(tmp_path: Path) -> None:
    """The check can fail: the same query against series whose metric or label was renamed."""
    path = files()[0]
    query = next(q for q in queries(path) if "agent_invocations_total" in q.raw)
    expr = concrete(path, query)
    want = EXPECTED[query.key]
    assert promtool.run([(expr, want)], tmp_path).returncode == 0
    series = promtool.SERIES
    renamed = {
        k.replace("agent_invocations_total", "agent_calls_total"): v for k, v in series.items()
    }
    assert promtool.run([(expr, want)], tmp_path, renamed).returncode != 0
    relabelled = {k.replace("agent_id=", "agent="): v for k, v in series.items()}
    assert promtool.run([(expr, want)], tmp_path, relabelled).returncode != 0
