package greenlang.policies.data_access_test

import data.greenlang.test

test_within_clearance_allowed if test.as_expected("data_within_clearance")

test_above_clearance_denied if {
	test.as_expected("data_above_clearance")
	d := test.decide("data_above_clearance")
	test.messages(d.violations, "data-access-clearance") == {"request data is classified above the agent's clearance"}
}

test_default_clearance_denies_confidential if test.as_expected("data_default_clearance_denies")

test_default_clearance_allows_public if test.as_expected("data_default_clearance_public")

test_unknown_classification_denied if test.as_expected("data_unknown_classification")

test_unclassified_counts_as_internal if test.as_expected("data_unclassified_is_internal")

test_input_clearance_wins if test.as_expected("data_input_clearance_public")

test_restricted_needs_identified_user if test.as_expected("data_restricted_anonymous")

test_restricted_identified_user_allowed if test.as_expected("data_restricted_identified")
