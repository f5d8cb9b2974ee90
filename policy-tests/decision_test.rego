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
		"denied_types": [],
		"obligations": {
			"timeout_s": 120,
			"max_request_bytes": 10485760,
			"max_response_bytes": 52428800,
			"max_tokens": 1000,
			"mask": [
				{"name": "email", "pattern": data.greenlang.sidecar.mask_patterns.email},
				{"name": "iban", "pattern": data.greenlang.sidecar.mask_patterns.iban},
				{"name": "vat_id", "pattern": test.fixtures.data.sidecar.agents["gl-cbam-calculator"].mask_patterns.vat_id},
			],
		},
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
		"sidecar-obligations",
		"token-budget",
		"token-limit",
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
	d.denied_types == ["compliance"]
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

# denied_types: the types of the policies with violations, sorted, each once.
test_denied_types_sorted_and_distinct if {
	d := test.decide("all_types_mixed_findings")
	d.denied_types == ["access_control"] # two access_control policies deny
	test.decide("sidecar_pre_phase_rate_limited").denied_types == ["rate_limiting"]
	test.decide("sidecar_pre_phase_two_types_denied").denied_types == ["access_control", "rate_limiting"]
	test.decide("compliance_deprecated_warns").denied_types == [] # warnings do not count
}

# Only the requested types count, even when a policy of another type would deny.
test_denied_types_only_requested if {
	d := test.decide("sidecar_obligations_unknown_mask")
	d.denied_types == ["compliance"]
	case_input := test.fixtures.cases.sidecar_obligations_unknown_mask.input
	input_without := object.union(case_input, {"policy_types": ["access_control"], "user": {"id": "alice"}})
	e := data.greenlang.decision with input as input_without
		with data.greenlang.sidecar.agents as test.fixtures.data.sidecar.agents
		with data.greenlang.users as test.fixtures.data.users
	e.denied_types == []
}

# Every decision has both keys, whatever the input.
test_denied_types_and_obligations_always_there if {
	inputs := [null, {}, "x", [], {"agent": "x"}, {"agent": {"id": ["a"]}}, {"policy_types": ["nope"]}]
	missing := [x |
		some x in inputs
		d := data.greenlang.decision with input as x
		not has_new_keys(d)
	]
	missing == []
}

has_new_keys(d) if {
	is_array(d.denied_types)
	is_object(d.obligations)
}
