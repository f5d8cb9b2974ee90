package greenlang.obligations_test

import data.greenlang.test

stock := data.greenlang.sidecar

stock_mask := [
	{"name": "email", "pattern": stock.mask_patterns.email},
	{"name": "iban", "pattern": stock.mask_patterns.iban},
]

# An agent without an entry gets the stock defaults: 30 s, 10 MiB in, 50 MiB out, no token
# cap, email and iban masked.
test_stock_defaults if {
	test.decide("sidecar_obligations_stock_defaults").obligations == {
		"timeout_s": 30,
		"max_request_bytes": 10485760,
		"max_response_bytes": 52428800,
		"max_tokens": null,
		"mask": stock_mask,
	}
}

# An entry replaces the defaults key by key; its mask is a list of its own (duplicates dropped,
# sorted by name) and its own patterns resolve alongside the shared ones.
test_agent_entry_overrides_key_by_key if {
	own := test.fixtures.data.sidecar.agents["gl-cbam-calculator"]
	test.decide("sidecar_obligations_agent_override").obligations == {
		"timeout_s": 120,
		"max_request_bytes": 10485760,
		"max_response_bytes": 52428800,
		"max_tokens": 1000,
		"mask": array.concat(stock_mask, [{"name": "vat_id", "pattern": own.mask_patterns.vat_id}]),
	}
}

# The same obligations whatever the phase, the policy types or the decision.
test_obligations_do_not_depend_on_the_decision if {
	a := test.decide("sidecar_obligations_agent_override").obligations
	a == test.decide("token_limit_exceeded").obligations
	a == test.decide("sidecar_pre_phase_rate_limited").obligations
	a == test.decide("all_types_mixed_findings").obligations
}

# No agent (or an id that is not a string): the defaults.
test_no_agent_gets_defaults if {
	every x in [null, {}, {"agent": {"id": 7}}, {"agent": "gl-cbam-calculator"}] {
		o := data.greenlang.decision.obligations with input as x
		o.timeout_s == 30
		o.mask == stock_mask
	}
}

# An agent's own pattern replaces the shared one of the same name; an entry's mask replaces the
# default list, so [] masks nothing.
test_agent_patterns_and_empty_mask if {
	agents := {
		"a": {"mask": ["email"], "mask_patterns": {"email": "[a-z]{1,9}@example[.]org"}},
		"b": {"mask": []},
	}
	a := data.greenlang.decision.obligations with input as {"agent": {"id": "a"}}
		with data.greenlang.sidecar.agents as agents
	a.mask == [{"name": "email", "pattern": "[a-z]{1,9}@example[.]org"}]
	b := data.greenlang.decision.obligations with input as {"agent": {"id": "b"}}
		with data.greenlang.sidecar.agents as agents
	b.mask == []
	b.timeout_s == 30
}

# An unknown name stays in the list with a null pattern (and the decision is denied, see
# sidecar_obligations_test).
test_unknown_mask_name_keeps_null_pattern if {
	test.decide("sidecar_obligations_unknown_mask").obligations.mask == [
		{"name": "email", "pattern": stock.mask_patterns.email},
		{"name": "ssn", "pattern": null},
	]
}

# A limit missing from defaults and entry is null; without any sidecar data every limit is null
# and nothing is masked (and sidecar-obligations denies).
test_missing_values_are_null if {
	o := data.greenlang.decision.obligations with input as {}
		with data.greenlang.sidecar as {"defaults": {"max_request_bytes": 10485760, "mask": ["email"]}, "mask_patterns": {"email": "x"}}
	o.timeout_s == null
	o.max_tokens == null
	o.max_request_bytes == 10485760
	o.max_response_bytes == null
	o.mask == [{"name": "email", "pattern": "x"}]
	d := data.greenlang.decision with input as {"policy_types": ["compliance"]}
		with data.greenlang.sidecar as null
	d.obligations == {"timeout_s": null, "max_request_bytes": null, "max_response_bytes": null, "max_tokens": null, "mask": []}
	d.decision == "deny"
}

# The stock patterns are written without backslashes (see docs/policies.md): they reach the
# sidecar as the same Python string from either engine, and read the same in JSON and Rego.
test_stock_patterns_have_no_backslashes if {
	every name, pattern in stock.mask_patterns {
		is_string(pattern)
		not contains(pattern, `\`)
		regex.match(`^[a-z0-9][a-z0-9_-]{0,63}$`, name)
	}
}
