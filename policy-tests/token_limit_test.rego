package greenlang.policies.token_limit_test

import data.greenlang.test

test_within_limit_allowed if test.as_expected("token_limit_within")

test_over_limit_denied if {
	test.as_expected("token_limit_exceeded")
	d := test.decide("token_limit_exceeded")
	test.messages(d.violations, "token-limit") == {"token usage exceeds the agent's limit"}
	d.denied_types == ["rate_limiting"]
}

test_no_limit_allowed if test.as_expected("token_limit_no_limit")

test_no_usage_no_finding if test.as_expected("token_limit_no_usage")

test_usage_not_a_count_denied if {
	test.as_expected("token_limit_usage_not_a_count")
	d := test.decide("token_limit_usage_not_a_count")
	test.messages(d.violations, "token-limit") == {"token usage is not a whole number of tokens"}
}

test_bad_limit_denied if {
	test.as_expected("token_limit_bad_limit")
	d := test.decide("token_limit_bad_limit")
	test.messages(d.violations, "token-limit") == {"token limit max_tokens is not a whole number"}
}

# The limit is data: the stock default applies to every agent without an entry.
test_default_limit_is_data if {
	d := test.decide("token_limit_no_limit") with data.greenlang.sidecar.defaults.max_tokens as 4000000
	test.messages(d.violations, "token-limit") == {"token usage exceeds the agent's limit"}
}

# Usage without a limit, or no usage at all, never denies, whatever its shape.
test_odd_usage_without_limit_allowed if {
	every usage in [null, "x", {"total_tokens": -1}, {"total_tokens": 1.5}, {"prompt_tokens": 5}] {
		d := data.greenlang.decision with input as {"agent": {"id": "nobody"}, "policy_types": ["rate_limiting"], "usage": usage}
		d.decision == "allow"
	}
}

# A missing total with a limit is no usage (the sidecar only asks when it knows the total).
test_usage_without_total_allowed if {
	d := test.decide("token_limit_within") with input.usage as {"prompt_tokens": 5000}
	d.decision == "allow"
}

# With usage, a max_tokens that is not a whole number denies (sidecar-obligations leaves it to
# this policy: it only matters once there is usage).
test_unusable_limits_deny_with_usage if {
	every limit in [-1, "1000", 2.5, true, {}] {
		d := data.greenlang.decision with input as {"agent": {"id": "a"}, "policy_types": ["rate_limiting"], "usage": {"total_tokens": 10}}
			with data.greenlang.sidecar.agents as {"a": {"max_tokens": limit}}
		test.messages(d.violations, "token-limit") == {"token limit max_tokens is not a whole number"}
	}
}
