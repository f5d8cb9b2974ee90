"""Which callers have a token budget, read from the bundle's ``data.greenlang.token_budgets``.

The budget itself is judged by the policy token-budget (token_budget.rego); the sidecar only
needs to know whether it might apply to a call, so that a caller without one costs no count and
no shared-store round trip. The answer errs towards counting: any non-null budget of the agent,
of one of the caller's roles or a default means "count" (the policy then judges its value).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

POLICY_ID: Final = "token-budget"


@dataclass(frozen=True, slots=True)
class TokenBudgets:
    enabled: bool = False  # the policy token-budget is in the bundle and enabled
    default: bool = False  # a default budget is set
    roles: frozenset[str] = frozenset()  # roles with a budget
    agents: frozenset[str] = frozenset()  # agents with a budget of their own

    @classmethod
    def from_data(cls, meta: Mapping[str, Any], budgets: Any) -> TokenBudgets:
        """From ``data.greenlang.policy_meta`` and ``data.greenlang.token_budgets``."""
        enabled = any(
            isinstance(m, dict) and m.get("policy_id") == POLICY_ID and m.get("enabled") is True
            for m in meta.values()
        )
        if not enabled or not isinstance(budgets, dict):
            return cls()
        return cls(
            enabled=True,
            default=budgets.get("default") is not None,
            roles=_set(budgets.get("roles")),
            agents=_set(budgets.get("agents")),
        )

    def applies(self, agent_id: str, roles: Iterable[str]) -> bool:
        """Whether a call of this agent by a caller with these roles may have a budget."""
        if not self.enabled:
            return False
        return self.default or agent_id in self.agents or not self.roles.isdisjoint(roles)


def _set(budgets: Any) -> frozenset[str]:
    """The keys with a non-null budget."""
    if not isinstance(budgets, dict):
        return frozenset()
    return frozenset(k for k, v in budgets.items() if v is not None)
