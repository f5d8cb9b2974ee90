package greenlang.policies.sidecar_obligations_test

import data.greenlang.test

test_stock_defaults_usable if test.as_expected("sidecar_obligations_stock_defaults")

test_agent_override_usable if test.as_expected("sidecar_obligations_agent_override")

test_unknown_mask_denied if {
	test.as_expected("sidecar_obligations_unknown_mask")
	d := test.decide("sidecar_obligations_unknown_mask")
	test.messages(d.violations, "sidecar-obligations") == {"sidecar mask ssn has no pattern in data.greenlang.sidecar.mask_patterns"}
}

test_bad_limits_denied if {
	test.as_expected("sidecar_obligations_bad_limits")
	d := test.decide("sidecar_obligations_bad_limits")
	test.messages(d.violations, "sidecar-obligations") == {
		"sidecar timeout_s must be a number of seconds, more than 0 and at most 86400",
		"sidecar max_request_bytes must be a number of bytes",
	}
}

# messages(agents): the policy's messages for agent "a" with these sidecar entries.
messages(agents) := test.messages(d.violations, "sidecar-obligations") if {
	d := data.greenlang.decision with input as {"agent": {"id": "a"}, "policy_types": ["compliance"]}
		with data.greenlang.sidecar.agents as agents
}

test_unusable_entries_denied if {
	messages({"a": {"mask": "email"}}) == {"sidecar mask must be a list of mask names"}
	messages({"a": {"mask": null}}) == {"sidecar mask must be a list of mask names"}
	messages({"a": {"mask": ["x"], "mask_patterns": {"x": 1}}}) == {"sidecar mask x has no pattern in data.greenlang.sidecar.mask_patterns"}
	messages({"a": {"mask": ["E-Mail"]}}) == {"a sidecar mask has no pattern in data.greenlang.sidecar.mask_patterns"}
	messages({"a": {"timeout_s": "30"}}) == {"sidecar timeout_s must be a number of seconds, more than 0 and at most 86400"}
	messages({"a": {"timeout_s": 86401}}) == {"sidecar timeout_s must be a number of seconds, more than 0 and at most 86400"}
	messages({"a": {"timeout_s": null}}) == {"sidecar timeout_s must be a number of seconds, more than 0 and at most 86400"}
	messages({"a": {"max_response_bytes": null}}) == {"sidecar max_response_bytes must be a number of bytes"}
}

# What the runtime check lets through: usable values. Bundle builds refuse the malformed ones
# (bundles/sidecar_data.py); at run time they fall back to the defaults or mask what resolves.
test_usable_entries_allowed if {
	messages({"a": {"timeout_s": 0.5, "max_tokens": 0, "mask": []}}) == set()
	messages({"a": {"mask": ["phone", "email"]}}) == set()
	messages({"a": {"mask": ["x"], "mask_patterns": {"x": "[0-9]{3}"}}}) == set()
	messages({"a": {"mask": ["E-Mail"], "mask_patterns": {"E-Mail": "x"}}}) == set()
	messages({"a": "not an entry"}) == set() # the defaults apply
	messages({"a": {"max_tokens": "1000"}}) == set() # token-limit denies once there is usage
	messages({"b": "junk"}) == set() # another agent's entry is not this decision's business
}

test_missing_defaults_denied if {
	d := data.greenlang.decision with input as {"policy_types": ["compliance"]}
		with data.greenlang.sidecar as {"mask_patterns": {}}
	test.messages(d.violations, "sidecar-obligations") == {
		"sidecar obligations need defaults (data.greenlang.sidecar.defaults)",
		"sidecar timeout_s must be a number of seconds, more than 0 and at most 86400",
		"sidecar max_request_bytes must be a number of bytes",
		"sidecar max_response_bytes must be a number of bytes",
	}
}

test_shared_patterns_not_an_object_denied if {
	d := data.greenlang.decision with input as {"policy_types": ["compliance"]}
		with data.greenlang.sidecar.mask_patterns as ["email"]
	test.messages(d.violations, "sidecar-obligations") == {
		"sidecar mask email has no pattern in data.greenlang.sidecar.mask_patterns",
		"sidecar mask iban has no pattern in data.greenlang.sidecar.mask_patterns",
	}
}

# The policy runs on every call the sidecar checks: it is one rule on the usual path.
test_stock_data_usable_for_any_agent if {
	every x in [{}, {"agent": {"id": "gl-cbam-calculator"}}, {"agent": {"id": 1}}] {
		data.greenlang.policies.sidecar_obligations.usable with input as x
	}
}
