package greenlang.policies.rbac_access_control_test

import data.greenlang.test

test_admin_may_invoke_any_agent if test.as_expected("rbac_admin_any_agent")

test_admin_may_do_any_action if test.as_expected("rbac_admin_any_action")

test_operator_may_invoke_any_agent if test.as_expected("rbac_operator_invokes_any_agent")

test_operator_may_not_deploy if test.as_expected("rbac_operator_cannot_deploy")

test_owner_team_member_may_invoke if test.as_expected("rbac_owner_team_member_invokes")

test_owner_team_member_may_not_deploy if test.as_expected("rbac_owner_team_cannot_deploy")

test_other_team_is_denied if {
	test.as_expected("rbac_other_team_denied")
	d := test.decide("rbac_other_team_denied")
	test.messages(d.violations, "rbac-access-control") == {"user may not perform this action on this agent"}
}

test_unknown_user_is_denied if test.as_expected("rbac_unknown_user_denied")

test_anonymous_is_denied if test.as_expected("rbac_anonymous_denied")

test_roles_in_input_replace_bindings if test.as_expected("rbac_input_roles_win")

test_owner_team_from_input if test.as_expected("rbac_input_owner_team")

# The role grants come from data: a role granting "deploy" lets operators deploy.
test_grants_are_data if {
	d := test.decide("rbac_operator_cannot_deploy") with data.greenlang.rbac.roles.operator.actions as ["invoke", "deploy"]
	d.decision == "allow"
}

test_agent_level_facts_hold_for_every_version if test.as_expected("rbac_flat_catalog_owner_team")
