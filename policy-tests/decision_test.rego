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
	index := array.concat(data.greenlang.policy_index.compliance, [["ghost_policy", "ghost-policy"]])
	d := test.decide("compliance_active_certified") with data.greenlang.policy_index.compliance as index
	d.decision == "deny"
	d.violations == [{"policy_id": "ghost-policy", "message": "policy module is not loaded"}]
}

# The same when the policies come from the metadata (data without policy_index).
test_missing_module_denies_without_index if {
	meta := {"policy_id": "ghost-policy", "type": "compliance", "enforcement": "deny", "enabled": true, "name": "Ghost"}
	d := test.decide("compliance_active_certified") with data.greenlang.policy_meta.ghost_policy as meta
		with data.greenlang.policy_index as null
	d.decision == "deny"
	d.violations == [{"policy_id": "ghost-policy", "message": "policy module is not loaded"}]
}

# The compiler's index is what the metadata says: the enabled policies by type, in key order.
test_index_matches_metadata if {
	from_meta := data.greenlang.engine.index with data.greenlang.policy_index as null
	from_meta == data.greenlang.policy_index
	count(from_meta) == 6
}

# Without the index every fixture case still decides as expected.
test_every_fixture_case_without_index if {
	failing := {name | some name, _ in test.fixtures.cases; not test.as_expected(name)} with data.greenlang.policy_index as null
	count(failing) == 0
}

test_no_input_at_all if {
	d := data.greenlang.decision with input as null
	d.decision == "deny" # RBAC: nobody may do anything
}

# lib.input_agent.id is always lib.agent.id (the compiler reads agent.id there), also when the
# catalog entry has an "id" of its own.
test_input_agent_id_is_agent_id if {
	extra := {"a": {"id": "b", "owner_team": "t"}, "c": {"id": null, "versions": {"1": {"id": "d"}}}}
	catalog := {"agents": object.union(test.fixtures.data.catalog.agents, extra)}
	inputs := array.concat([case.input | some case in test.fixtures.cases], [
		{"agent": {"id": "a"}},
		{"agent": {"id": "c", "version": "1"}},
		{"agent": {"id": "gl-cbam-calculator", "version": "2.0.0"}},
		{"agent": {"id": 1}},
		{"agent": {"version": "1"}},
		{"agent": "a"},
		{},
	])
	differ := [x |
		some x in inputs
		agent_id := object.get(data.greenlang.lib.agent, "id", "-") with input as x
			with data.greenlang.catalog as catalog
		input_id := object.get(data.greenlang.lib.input_agent, "id", "-") with input as x
			with data.greenlang.catalog as catalog
		agent_id != input_id
	]
	differ == []
}
