# METADATA
# title: Token budget per caller
# description: >-
#   Denies a call once the tokens the caller used in the window (tokens.used, summed by the
#   sidecar over every replica sharing its rate store) reach the budget, and warns from
#   data.greenlang.token_budgets.warn_percent (80) percent of it. The budget is the most
#   generous budget of the user's roles (else the default), capped by the agent's own; budgets
#   count tokens per data.greenlang.token_budgets.window_s seconds. No budget (the default):
#   no limit. Usage is counted once a call answered, so the call that crosses the budget
#   completes and the next one is denied.
# custom:
#   policy_id: token-budget
#   type: rate_limiting
#   enforcement: deny
#   enabled: true
package greenlang.policies.token_budget

import data.greenlang.lib

policy_id := "token-budget"

# The findings never read rate.current (bundles/rate_bands.py).
breakpoints := []

config := data.greenlang.token_budgets

# Undefined without a measurement (no budget applies, or the post phase): every rule below
# stops at its first line.
tokens := lib.request.tokens

used := tokens.used

window := tokens.window_s if {
	lib.is_count(tokens.window_s)
	tokens.window_s > 0
	tokens.window_s <= 86400
} else := config.window_s

role_budgets := [budget |
	some role in lib.roles
	budget := config.roles[role]
	lib.is_count(budget)
]

role_budget := lib.largest(role_budgets) if {
	count(role_budgets) > 0
} else := config.default

agent_budget := config.agents[lib.input_agent.id]

# Undefined when neither the roles, the default nor the agent give one: no limit.
budget := lib.smallest([role_budget, agent_budget]) if {
	lib.is_count(role_budget)
	lib.is_count(agent_budget)
} else := agent_budget if {
	lib.is_count(agent_budget)
} else := role_budget if {
	lib.is_count(role_budget)
}

# Budgets compared without division: used/window against budget/config.window_s, in percent.
spent := (used * config.window_s) * 100 if lib.is_count(used)

capacity := budget * window

violations contains {"policy_id": policy_id, "message": "token budget used up"} if {
	spent >= capacity * 100
}

warnings contains {"policy_id": policy_id, "message": "token use is close to the budget"} if {
	spent < capacity * 100
	spent >= capacity * config.warn_percent
}

violations contains {"policy_id": policy_id, "message": "token measurement is not a whole number of tokens"} if {
	tokens.used != null
	not lib.is_count(used)
}

violations contains {"policy_id": policy_id, "message": "token budget is not a whole number"} if {
	_ := tokens
	agent_budget != null
	not lib.is_count(agent_budget)
}

violations contains {"policy_id": policy_id, "message": "token budget is not a whole number"} if {
	_ := tokens
	role_budget != null
	not lib.is_count(role_budget)
}
