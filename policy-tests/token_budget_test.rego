package greenlang.policies.token_budget_test

import data.greenlang.test

# The stock data (no default, no role or agent budgets): no caller has a limit. (Overrides of
# the budgets go through data.fixtures: test.decide sets them with `with` itself, and `with`
# merges an object into the data it replaces.)
test_no_budget_is_the_stock_default if {
	d := data.greenlang.decision with input as test.fixtures.cases.token_budget_role_denies_at_budget.input
	d.decision == "allow"
	"token-budget" in d.evaluated
}

test_no_budget_no_limit if test.as_expected("token_budget_none_by_default")

test_below_warning_allowed if test.as_expected("token_budget_role_below_warning")

test_warns_from_80_percent if {
	test.as_expected("token_budget_role_warns")
	d := test.decide("token_budget_role_warns")
	test.messages(d.warnings, "token-budget") == {"token use is close to the budget"}
}

test_denies_at_budget if {
	test.as_expected("token_budget_role_denies_at_budget")
	d := test.decide("token_budget_role_denies_at_budget")
	test.messages(d.violations, "token-budget") == {"token budget used up"}
	d.denied_types == ["rate_limiting"]
	count(d.warnings) == 0
}

test_agent_budget_caps_role_budget if test.as_expected("token_budget_agent_caps_role")

test_agent_budget_alone if test.as_expected("token_budget_agent_without_role_budget")

# Budgets compared as numbers, not as text (7 < 5000; regopy's min says otherwise)
test_single_digit_agent_budget_denies if test.as_expected("token_budget_single_digit_agent_denies")

test_single_digit_agent_budget_warns if test.as_expected("token_budget_single_digit_agent_warns")

test_shorter_window_is_scaled if test.as_expected("token_budget_shorter_window_scaled")

test_window_defaults_to_policy_window if test.as_expected("token_budget_window_defaults_to_policy")

test_fractional_measurement_denied if {
	test.as_expected("token_budget_invalid_measurement")
	d := test.decide("token_budget_invalid_measurement")
	test.messages(d.violations, "token-budget") == {"token measurement is not a whole number of tokens"}
}

test_no_measurement_no_decision if test.as_expected("token_budget_not_measured")

test_default_budget_applies_without_role_budget if {
	d := test.decide("token_budget_none_by_default") with data.greenlang.token_budgets.default as 1000
	d.decision == "deny"
	test.messages(d.violations, "token-budget") == {"token budget used up"}
}

test_role_budget_wins_over_default if {
	# oscar's operator budget (5000) is used, not the smaller default
	d := test.decide("token_budget_role_below_warning") with data.greenlang.token_budgets.default as 10
	d.decision == "allow"
}

test_most_generous_role_wins if {
	d := test.decide("token_budget_role_denies_at_budget") with data.fixtures.cases.token_budget_role_denies_at_budget.input.user.roles as ["operator", "admin"]
		with data.fixtures.data.token_budgets.roles as {"operator": 5000, "admin": 50000}
	d.decision == "allow"
}

test_zero_budget_denies_every_call if {
	d := test.decide("token_budget_none_by_default") with data.greenlang.token_budgets.default as 0
		with data.fixtures.cases.token_budget_none_by_default.input.tokens.used as 0
	d.decision == "deny"
}

test_warn_threshold_is_data if {
	d := test.decide("token_budget_role_below_warning") with data.greenlang.token_budgets.warn_percent as 10
	d.decision == "warn"
}

test_malformed_agent_budget_denies if {
	d := test.decide("token_budget_role_below_warning") with data.fixtures.data.token_budgets.agents as {"gl-cbam-calculator": "5000"}
	test.messages(d.violations, "token-budget") == {"token budget is not a whole number"}
}

test_malformed_default_denies if {
	d := test.decide("token_budget_none_by_default") with data.greenlang.token_budgets.default as 1.5
	test.messages(d.violations, "token-budget") == {"token budget is not a whole number"}
}

test_malformed_budget_unread_without_measurement if {
	d := test.decide("token_budget_not_measured") with data.greenlang.token_budgets.default as "x"
	d.decision == "allow"
}

# The post phase carries usage, not tokens: the crossing call is never undone afterwards.
test_post_phase_is_not_judged if {
	d := test.decide("token_budget_not_measured") with data.fixtures.cases.token_budget_not_measured.input.phase as "post"
		with data.fixtures.cases.token_budget_not_measured.input.usage as {"total_tokens": 1000000}
	d.decision == "allow"
}

test_declares_no_rate_breakpoints if {
	bands := test.rate_bands("token_budget_role_below_warning")
	bands.breakpoints != null
}
