# METADATA
# title: Token limit per call
# description: >-
#   Denies a call whose token usage (usage.total_tokens, reported by the sidecar after the
#   agent answered) exceeds the agent's max_tokens obligation (data.greenlang.sidecar,
#   defaults overlaid with agents[<agent id>]). No limit when max_tokens is null; nothing to
#   check when the input has no usage. With a limit, a usage or a limit that is not a whole
#   number denies.
# custom:
#   policy_id: token-limit
#   type: rate_limiting
#   enforcement: deny
#   enabled: true
package greenlang.policies.token_limit

import data.greenlang.lib
import data.greenlang.obligations

policy_id := "token-limit"

# The findings never read rate.current (bundles/rate_bands.py).
breakpoints := []

# Undefined without usage (the pre phase): every rule below stops at its first line.
used := lib.request.usage.total_tokens

violations contains {"policy_id": policy_id, "message": "token usage exceeds the agent's limit"} if {
	used != null
	obligations.max_tokens != null
	lib.is_count(used)
	lib.is_count(obligations.max_tokens)
	used > obligations.max_tokens
}

violations contains {"policy_id": policy_id, "message": "token usage is not a whole number of tokens"} if {
	used != null
	obligations.max_tokens != null
	not lib.is_count(used)
}

violations contains {"policy_id": policy_id, "message": "token limit max_tokens is not a whole number"} if {
	used != null
	obligations.max_tokens != null
	not lib.is_count(obligations.max_tokens)
}
