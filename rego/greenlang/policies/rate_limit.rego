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

# The sidecar's measurement: requests seen in the last `window_s` seconds.
measured if lib.request.rate.current != null

current := lib.request.rate.current

# Measurement window (seconds); the policy's window when the input leaves it out.
window := lib.request.rate.window_s if {
	lib.is_count(lib.request.rate.window_s)
	lib.request.rate.window_s > 0
	lib.request.rate.window_s <= 86400
} else := config.window_s

role_limits contains limit if {
	some role in lib.roles
	limit := config.roles[role]
	lib.is_count(limit)
}

role_limit := max(role_limits) if {
	count(role_limits) > 0
} else := config.default

limit := min({role_limit, config.agents[lib.input_agent.id]}) if {
	lib.is_count(config.agents[lib.input_agent.id])
} else := role_limit

# A whole number up to 10^12: below that every product here fits in regopy's int64.
valid_measurement if lib.is_count(current)

# Compare rates without division: current/window >= limit/config.window_s.
reached(percent) if {
	(current * config.window_s) * 100 >= (limit * window) * percent
}

violations contains {"policy_id": policy_id, "message": "rate measurement is not a whole number of requests"} if {
	measured
	not valid_measurement
}

violations contains {"policy_id": policy_id, "message": "rate limit reached"} if {
	valid_measurement
	reached(100)
}

warnings contains {"policy_id": policy_id, "message": "rate is close to the limit"} if {
	valid_measurement
	not reached(100)
	reached(config.warn_percent)
}
