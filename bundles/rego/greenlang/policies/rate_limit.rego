# METADATA
# title: Rate limiting
# description: >-
#   Denies a request once the measured rate reaches the limit and warns from
#   data.greenlang.rate_limits.warn_percent (80) percent of it. The limit is the
#   most generous limit of the user's roles (else the default), capped by the agent's
#   own limit; limits count requests per data.greenlang.rate_limits.window_s seconds.
# custom:
#   policy_id: rate-limit
#   type: rate_limiting
#   enforcement: deny
#   enabled: true
package greenlang.policies.rate_limit

import data.greenlang.lib

policy_id := "rate-limit"

config := data.greenlang.rate_limits

rate := lib.request.rate

measured if rate.current != null

current := rate.current

window := rate.window_s if {
	lib.is_count(rate.window_s)
	rate.window_s > 0
	rate.window_s <= 86400
} else := config.window_s

role_limits := [limit |
	some role in lib.roles
	limit := config.roles[role]
	lib.is_count(limit)
]

role_limit := lib.largest(role_limits) if {
	count(role_limits) > 0
} else := config.default

limit := lib.smallest([role_limit, agent_limit]) if {
	agent_limit := config.agents[lib.input_agent.id]
	lib.is_count(agent_limit)
} else := role_limit

valid_measurement if lib.is_count(current)

# Rates compared without division: current/window against limit/config.window_s, in percent.
used := (current * config.window_s) * 100 if valid_measurement

capacity := limit * window

violations contains {"policy_id": policy_id, "message": "rate measurement is not a whole number of requests"} if {
	measured
	not valid_measurement
}

violations contains {"policy_id": policy_id, "message": "rate limit reached"} if {
	used >= capacity * 100
}

warnings contains {"policy_id": policy_id, "message": "rate is close to the limit"} if {
	used < capacity * 100
	used >= capacity * config.warn_percent
}

# Values of rate.current at which these findings can change (bundles/rate_bands.py), so the
# sidecar can reuse a verdict between them: where a count stops being whole-numbered (0,
# 10^12 + 1), and the deny and warn thresholds, `used >= ...` solved for current, as
# floor(x) .. floor(x) + 2 (covers ceil(x) and the next count). The divisions are of whole
# numbers up to 2^53, whose floor both engines get exactly; undefined (no reuse) otherwise.
breakpoints := array.concat([0, 1000000000001], [b |
	some x in [capacity / config.window_s, (capacity * config.warn_percent) / (config.window_s * 100)]
	some b in [floor(x), floor(x) + 1, floor(x) + 2]
]) if {
	lib.is_count(config.window_s)
	config.window_s > 0
	lib.is_count(config.warn_percent)
	lib.is_count(capacity)
	capacity * 100 <= 9007199254740992
	capacity * config.warn_percent <= 9007199254740992
}
