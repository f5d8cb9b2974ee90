package greenlang.policies.rate_limit_test

import data.greenlang.test

test_below_warning_allowed if test.as_expected("rate_below_warning")

test_warns_from_80_percent if {
	test.as_expected("rate_warns_from_80_percent")
	d := test.decide("rate_warns_from_80_percent")
	test.messages(d.warnings, "rate-limit") == {"rate is close to the limit"}
}

test_just_below_warning_allowed if test.as_expected("rate_just_below_warning")

test_denies_at_limit if {
	test.as_expected("rate_denies_at_limit")
	d := test.decide("rate_denies_at_limit")
	test.messages(d.violations, "rate-limit") == {"rate limit reached"}
	count(d.warnings) == 0
}

test_role_limit_is_higher if test.as_expected("rate_role_limit_higher")

test_agent_limit_caps_role_limit if test.as_expected("rate_agent_limit_caps_role")

test_agent_limit_warns if test.as_expected("rate_agent_limit_warns")

test_shorter_window_is_scaled if test.as_expected("rate_shorter_window_scaled")

test_window_defaults_to_policy_window if test.as_expected("rate_window_defaults_to_policy")

test_fractional_measurement_denied if test.as_expected("rate_invalid_measurement")

test_no_measurement_no_decision if test.as_expected("rate_not_measured")

test_warn_threshold_is_data if {
	d := test.decide("rate_below_warning") with data.greenlang.rate_limits.warn_percent as 10
	d.decision == "warn"
}
