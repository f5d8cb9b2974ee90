# Shared helpers for the policy tests. The cases live in fixtures/cases.json (loaded by
# `opa test` as data.fixtures); tests/policy runs the same inputs through both engines.
package greenlang.test

fixtures := data.fixtures

# decide(name) is the decision for case `name`, with the fixture catalog, role bindings,
# per-agent rate limits, role and agent token budgets and per-agent sidecar obligations in
# place of the bundle's.
decide(name) := decision if {
	decision := data.greenlang.decision with input as fixtures.cases[name].input
		with data.greenlang.catalog as fixtures.data.catalog
		with data.greenlang.users as fixtures.data.users
		with data.greenlang.rate_limits.agents as fixtures.data.rate_limits.agents
		with data.greenlang.token_budgets.roles as fixtures.data.token_budgets.roles
		with data.greenlang.token_budgets.agents as fixtures.data.token_budgets.agents
		with data.greenlang.sidecar.agents as fixtures.data.sidecar.agents
}

# rate_bands(name): data.greenlang.rate_bands for case `name`, with the same data as decide.
rate_bands(name) := bands if {
	bands := data.greenlang.rate_bands with input as fixtures.cases[name].input
		with data.greenlang.catalog as fixtures.data.catalog
		with data.greenlang.users as fixtures.data.users
		with data.greenlang.rate_limits.agents as fixtures.data.rate_limits.agents
		with data.greenlang.token_budgets.roles as fixtures.data.token_budgets.roles
		with data.greenlang.token_budgets.agents as fixtures.data.token_budgets.agents
		with data.greenlang.sidecar.agents as fixtures.data.sidecar.agents
}

ids(findings) := {f.policy_id | some f in findings}

messages(findings, policy_id) := {f.message | some f in findings; f.policy_id == policy_id}

# as_expected(name): the decision of case `name` is its `expect`: the same decision,
# violations and warnings from exactly the expected policies, and denied_types the types of
# the policies expected to deny.
as_expected(name) if {
	d := decide(name)
	expect := fixtures.cases[name].expect
	d.decision == expect.decision
	d.allow == expect.decision != "deny"
	ids(d.violations) == {id | some id in expect.violations}
	ids(d.warnings) == {id | some id in expect.warnings}
	d.denied_types == types_of(expect.violations)
}

# types_of(policy_ids): the sorted types of those policies.
types_of(policy_ids) := sort({meta.type | some meta in data.greenlang.policy_meta; meta.policy_id in policy_ids})

# Every fixture case, so a case added to the JSON is tested even before it gets a named test.
test_every_fixture_case_as_expected if {
	failing := {name | some name, _ in fixtures.cases; not as_expected(name)}
	print("failing cases:", failing)
	count(failing) == 0
}
