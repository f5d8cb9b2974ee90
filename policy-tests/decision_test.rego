package greenlang.decision_test

import data.greenlang.test

test_all_types_when_absent if {
	test.as_expected("all_types_good_invocation")
	d := test.decide("all_types_good_invocation")
	d == {
		"allow": true,
		"decision": "allow",
		"violations": [],
		"warnings": [],
		"evaluated": sort([meta.policy_id | some meta in data.greenlang.policy_meta]),
	}
}

test_findings_sorted_and_named if {
	test.as_expected("all_types_mixed_findings")
	d := test.decide("all_types_mixed_findings")
	d.allow == false
	pairs := [[f.policy_id, f.message] | some f in d.violations]
	pairs == sort(pairs)
	warning_pairs := [[f.policy_id, f.message] | some f in d.warnings]
	warning_pairs == sort(warning_pairs)
	d.evaluated == sort(d.evaluated)
}

test_only_requested_types_run if {
	test.as_expected("two_types_requested")
	d := test.decide("two_types_requested")
	d.evaluated == [
		"compliance-certified-active",
		"compliance-deprecated-warn",
		"pol-001-certification-required",
		"rate-limit",
	]
}

test_empty_type_list_runs_nothing if {
	test.as_expected("no_types_requested")
	test.decide("no_types_requested").evaluated == []
}

# An enabled policy whose module is not loaded denies instead of passing silently.
test_missing_module_denies if {
	meta := {"policy_id": "ghost-policy", "type": "compliance", "enforcement": "deny", "enabled": true, "name": "Ghost"}
	d := test.decide("compliance_active_certified") with data.greenlang.policy_meta.ghost_policy as meta
	d.decision == "deny"
	d.violations == [{"policy_id": "ghost-policy", "message": "policy module is not loaded"}]
}

test_no_input_at_all if {
	d := data.greenlang.decision with input as null
	d.decision == "deny" # RBAC: nobody may do anything
}
