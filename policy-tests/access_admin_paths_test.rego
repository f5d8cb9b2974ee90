package greenlang.policies.access_admin_paths_test

import data.greenlang.test

test_operator_denied_on_admin_path if {
	test.as_expected("admin_paths_operator_denied")
	d := test.decide("admin_paths_operator_denied")
	test.messages(d.violations, "access-admin-paths") == {"Only admins may call admin endpoints"}
}

test_admin_allowed_on_admin_path if test.as_expected("admin_paths_admin_allowed")

test_lookalike_path_is_not_admin if test.as_expected("admin_paths_lookalike_allowed")
