"""Who the sidecar counts tokens for, read from a bundle's data (errs towards counting)."""

from __future__ import annotations

from typing import Any

from sidecar.token_budgets import TokenBudgets

META = {"token_budget": {"policy_id": "token-budget", "type": "rate_limiting", "enabled": True}}


def budgets(data: Any, meta: dict[str, Any] = META) -> TokenBudgets:
    return TokenBudgets.from_data(meta, data)


def test_stock_data_counts_nobody() -> None:
    stock = {"window_s": 60, "default": None, "roles": {}, "agents": {}, "warn_percent": 80}
    assert not budgets(stock).applies("a", ["admin"])


def test_default_role_and_agent_budgets() -> None:
    assert budgets({"default": 5}).applies("a", [])
    b = budgets({"roles": {"analyst": 100, "viewer": None}, "agents": {"a": "malformed"}})
    assert b.applies("x", ["analyst"])
    assert not b.applies("x", ["viewer"])  # null: no budget
    assert b.applies("a", [])  # a malformed budget is counted: the policy judges its value


def test_a_disabled_or_missing_policy_counts_nobody() -> None:
    off = {"token_budget": {**META["token_budget"], "enabled": False}}
    assert not budgets({"default": 5}, off).applies("a", [])
    assert not budgets({"default": 5}, {}).applies("a", [])
    assert not budgets("not an object").applies("a", [])
