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

# Limits compared as numbers, not as text (7 < 3000; regopy's min says otherwise)
test_single_digit_agent_limit_denies if test.as_expected("rate_single_digit_agent_limit_denies")

test_single_digit_agent_limit_warns if test.as_expected("rate_single_digit_agent_limit_warns")

test_single_digit_agent_limit_allows if test.as_expected("rate_single_digit_agent_limit_allows")

test_shorter_window_is_scaled if test.as_expected("rate_shorter_window_scaled")

test_window_defaults_to_policy_window if test.as_expected("rate_window_defaults_to_policy")

test_fractional_measurement_denied if test.as_expected("rate_invalid_measurement")

test_no_measurement_no_decision if test.as_expected("rate_not_measured")

test_warn_threshold_is_data if {
	d := test.decide("rate_below_warning") with data.greenlang.rate_limits.warn_percent as 10
	d.decision == "warn"
}

test_breakpoints_are_the_thresholds if {
	# limit 7 per 60 s: warn from 5.6 (so 6), deny from 7; each with its neighbours
	bands := test.rate_bands("rate_single_digit_agent_limit_allows")
	{5, 6, 7, 8} & bands.breakpoints == {5, 6, 7, 8}
}

test_no_breakpoints_for_numbers_too_large_to_divide_exactly if {
	# capacity 10^12 * 60 requests: times a warn_percent of 200 it is past 2^53
	bands := test.rate_bands("rate_below_warning") with data.greenlang.rate_limits.default as 1000000000000
		with data.greenlang.rate_limits.roles as {}
		with data.greenlang.rate_limits.warn_percent as 200
	bands.breakpoints == null
	test.rate_bands("rate_below_warning").breakpoints != null
}
