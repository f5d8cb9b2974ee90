package greenlang.policies.compliance_test

import data.greenlang.test

test_active_certified_allowed if test.as_expected("compliance_active_certified")

# Appendix B: production needs a certificate.
test_production_uncertified_denied if {
	test.as_expected("compliance_production_uncertified")
	d := test.decide("compliance_production_uncertified")
	test.messages(d.violations, "pol-001-certification-required") == {"Agent must be certified before production deployment"}
}

test_appendix_b_certified_allowed if test.as_expected("compliance_appendix_b_certified")

test_appendix_b_outside_production if test.as_expected("compliance_appendix_b_staging_uncertified")

test_expired_certificate_denied if {
	test.as_expected("compliance_expired_certificate")
	d := test.decide("compliance_expired_certificate")
	test.messages(d.violations, "compliance-certified-active") == {"Agent certificate has expired or has no expiry date"}
}

test_deprecated_warns if {
	test.as_expected("compliance_deprecated_warns")
	d := test.decide("compliance_deprecated_warns")
	test.messages(d.warnings, "compliance-deprecated-warn") == {
		"Agent version is DEPRECATED; move to its successor",
		"Agent certificate expires within 30 days",
	}
}

test_retired_denied if {
	test.as_expected("compliance_retired_denied")
	d := test.decide("compliance_retired_denied")
	"Agent version is not ACTIVE (DRAFT and RETIRED versions may not run)" in test.messages(d.violations, "compliance-certified-active")
}

test_draft_denied if test.as_expected("compliance_draft_denied")

test_expiring_soon_warns if test.as_expected("compliance_expiring_soon_warns")

test_unknown_agent_denied if test.as_expected("compliance_unknown_agent_denied")

test_unknown_version_denied if test.as_expected("compliance_unknown_version_denied")

test_input_status_wins_over_catalog if test.as_expected("compliance_input_status_wins")

test_no_agent_nothing_to_check if test.as_expected("compliance_no_agent")

# A disabled policy is not evaluated: the compiler leaves it out of the index...
test_disabled_policy_skipped if {
	index := [pair | some pair in data.greenlang.policy_index.compliance; pair[1] != "compliance-certified-active"]
	d := test.decide("compliance_expired_certificate") with data.greenlang.policy_index.compliance as index
	d.decision == "allow"
	not "compliance-certified-active" in d.evaluated
}

# ...and without an index, the metadata's `enabled` decides.
test_disabled_policy_skipped_without_index if {
	d := test.decide("compliance_expired_certificate") with data.greenlang.policy_meta.compliance_certified_active.enabled as false
		with data.greenlang.policy_index as null
	d.decision == "allow"
	not "compliance-certified-active" in d.evaluated
}

test_active_version_no_warning if test.as_expected("compliance_active_not_deprecated")

test_flat_catalog_entry if test.as_expected("compliance_flat_catalog_entry")

test_flat_catalog_same_version if test.as_expected("compliance_flat_catalog_same_version")

test_flat_catalog_facts_only_for_their_version if test.as_expected("compliance_flat_catalog_other_version")

# A version past its sunset is denied by the policy layer before the registry retires it; the
# sunset instant itself counts as past (like a certificate's expiry).
test_past_sunset_denied if {
	test.as_expected("compliance_past_sunset_denied")
	d := test.decide("compliance_past_sunset_denied")
	test.messages(d.violations, "compliance-certified-active") == {"Agent version is past its sunset date"}
}

test_before_sunset_runs_with_warning if test.as_expected("compliance_before_sunset_runs")

test_sunset_instant_is_past if {
	sunset := data.fixtures.data.catalog.agents["gl-legacy-ghg"].versions["2.0.0"].sunset_at
	x := object.union(data.fixtures.cases.compliance_before_sunset_runs.input, {"now": sunset})
	d := data.greenlang.decision with input as x with data.greenlang.catalog as data.fixtures.data.catalog
	d.decision == "deny"
}

# A flat entry's sunset describes its own version only.
test_flat_sunset_only_for_its_version if {
	catalog := {"agents": {"gl-flat": {"version": "1.0.0", "status": "ACTIVE", "sunset_at": 1}}}
	here := data.greenlang.lib.derived with input as {"agent": {"id": "gl-flat"}, "now": 2}
		with data.greenlang.catalog as catalog
	here.sunset_passed
	other := data.greenlang.lib.derived with input as {"agent": {"id": "gl-flat", "version": "0.9.0"}, "now": 2}
		with data.greenlang.catalog as catalog
	not "sunset_passed" in object.keys(other)
}
