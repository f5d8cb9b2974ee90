# Shared helpers for GreenLang policies: the merged facts every policy reads, and the clause
# operators the YAML compiler emits.
#
# Everything here is written for both engines (OPA and regopy/rego-cpp): no cross-type
# comparisons, object.union only where OPA's nested merge cannot happen (see overlay), no
# `some k, v in x` inside comprehensions, string operators only on plain ASCII text.
# See docs/policies.md, "Engine differences".
package greenlang.lib

# The input document as an object ({} when the caller sent no input or a non-object).
request := input if {
	is_object(input)
} else := {}

# object_or_empty(x) is x when x is an object, otherwise {}.
object_or_empty(x) := x if {
	is_object(x)
} else := {}

# field_object(obj, key) is obj[key] when that is an object, otherwise {} (never undefined).
field_object(obj, key) := object_or_empty(object.get(obj, key, {}))

# overlay(base, top) is base with every key of top replacing base's value (shallow).
# object.union alone would differ: OPA merges nested objects, regopy replaces them.
overlay(base, top) := object.union(object.remove(base, top), top)

# ---------------------------------------------------------------------------------------------
# Time: `now` and every timestamp are integer epoch nanoseconds.

now := request.now if {
	is_number(request.now)
} else := time.now_ns()

# ---------------------------------------------------------------------------------------------
# Agent facts: the catalog entry (bundle data) overlaid with what the input says.
#
# data.greenlang.catalog.agents[agent_id] is an object of agent facts (owner_team,
# data_clearance, ...). Facts of one version (version, status, certificate_id,
# certificate_expires_at, deprecated_at, sunset_at, replacement) are either at its top level,
# describing `version` (or `current_version`), or per version under "versions":
#   {"owner_team": "cbam", "data_clearance": "confidential", "current_version": "2.1.0",
#    "versions": {"2.1.0": {"status": "ACTIVE", "certificate_id": "c-1",
#                           "certificate_expires_at": 1798761600000000000}}}
#   {"owner_team": "cbam", "version": "2.1.0", "status": "ACTIVE", "certificate_id": "c-1", ...}
# The decision is about input.agent.version, else the catalog's version. Top-level version
# facts only count for the version they describe; input.agent fields win over all of it.

# input.agent as an object. Its `id` is always agent.id: the catalog entry is looked up by it,
# and the input wins over the catalog, so read lib.input_agent.id when only the id is needed
# (it spares the merge).
input_agent := request.agent if {
	is_object(request.agent)
} else := {}

catalog_entry := entry if {
	is_string(input_agent.id)
	entry := data.greenlang.catalog.agents[input_agent.id]
	is_object(entry)
} else := {}

# The version the catalog entry's top-level facts describe (null when it does not say).
catalog_version := object.get(catalog_entry, "current_version", object.get(catalog_entry, "version", null))

# The version the decision is about: the input's, else the catalog's (null when unknown).
agent_version := input_agent.version if {
	is_string(input_agent.version)
} else := catalog_version

# The entry's own facts, without those of another version than the one asked about.
entry_facts := object.remove(catalog_entry, ["versions", "current_version"]) if {
	agent_version == catalog_version
} else := object.remove(catalog_entry, ["versions", "current_version", "version", "status", "certificate_id", "certificate_expires_at", "deprecated_at", "sunset_at", "replacement"])

# The facts of the version asked about (versions[<version>]) with `version` set; {} when the
# version is unknown. A plain object.union is an overlay here: "version" is a string.
version_facts := object.union(object_or_empty(object.get(object.get(catalog_entry, "versions", {}), agent_version, {})), {"version": agent_version}) if {
	is_string(agent_version)
} else := {}

# overlay(overlay(entry_facts, version_facts), input_agent), written out: regopy charges for
# every call and every object it builds.
agent_base := object.union(object.remove(entry_facts, version_facts), version_facts)

agent := object.union(object.remove(agent_base, input_agent), input_agent)

# ---------------------------------------------------------------------------------------------
# User facts: role bindings from data.greenlang.users[user_id] = {"roles": [...], "team": "..."}
# overlaid with the input's user object.

input_user := request.user if {
	is_object(request.user)
} else := {}

bound_user := bound if {
	is_string(input_user.id)
	bound := data.greenlang.users[input_user.id]
	is_object(bound)
} else := {}

user := object.union(object.remove(bound_user, input_user), input_user)

# roles is the user's role list ([] when missing or not a list of strings): user.roles, read
# without building the merged user (the rate and access checks on every call need only this).
# The input's roles win whenever the input has the key, even when it is not a list.
roles := {r | some r in input_user.roles; is_string(r)} if {
	is_array(input_user.roles)
} else := set() if {
	_ := input_user.roles
} else := {r | some r in bound_user.roles; is_string(r)} if {
	is_array(bound_user.roles)
} else := set()

# ---------------------------------------------------------------------------------------------
# Derived facts, computed here so YAML policies can use them as dotted fields (derived.*).
# They are computed from agent facts and `now`; an input cannot set them. Times outside
# ±2^62 ns (year 1823..2116) are ignored (is_time): their difference could overflow regopy's
# int64. Both certificate facts are there, or neither; sunset_passed is there when the agent
# has a sunset_at time.

is_time(t) if {
	is_number(t)
	t >= -4611686018427387904
	t <= 4611686018427387904
}

derived := object.union(certificate_derived, sunset_derived)

certificate_derived := {
	"certificate_expired": expires <= now,
	"certificate_ttl_ns": expires - now,
} if {
	# is_time, inlined: this runs on most decisions
	expires := agent.certificate_expires_at
	is_number(expires)
	expires >= -4611686018427387904
	expires <= 4611686018427387904
	is_number(now)
	now >= -4611686018427387904
	now <= 4611686018427387904
} else := {}

# A version past its sunset is as good as retired, before the registry says so.
sunset_derived := {"sunset_passed": sunset <= now} if {
	# is_time, inlined like above
	sunset := agent.sunset_at
	is_number(sunset)
	sunset >= -4611686018427387904
	sunset <= 4611686018427387904
	is_number(now)
	now >= -4611686018427387904
	now <= 4611686018427387904
} else := {}

# Everything merged in one document: the input with agent, user, now and derived replaced.
# Policies read the parts they need (lib.request, lib.agent, ...) instead: in regopy every
# merge costs, and a decision only pays for what its selected policies look at.
facts := overlay(request, {"agent": agent, "user": user, "now": now, "derived": derived})

# ---------------------------------------------------------------------------------------------
# Clause operators that need more than a Rego expression. A call with an undefined first
# argument (a missing field) is undefined, so every operator is false on a missing field.
# Never negate such a call (`not f(lib.facts.x)`): OPA makes that undefined, regopy true.

not_in(x, values) if not x in values

greater_than(x, v) if {
	is_number(x)
	x > v
}

greater_or_equal(x, v) if {
	is_number(x)
	x >= v
}

less_than(x, v) if {
	is_number(x)
	x < v
}

less_or_equal(x, v) if {
	is_number(x)
	x <= v
}

# plain(s): printable ASCII without `"` and `\`. String operators only look at plain strings,
# the only text both engines match the same way (regopy matches escaped and non-ASCII text
# differently from OPA).
plain(s) if {
	is_string(s)
	regex.match(`^[ !#-\[\]-~]*$`, s)
}

# Subjects longer than 256 characters never match: regopy's matcher backtracks.
matches(x, pattern) if {
	plain(x)
	count(x) <= 256
	regex.match(pattern, x)
}

# contains_value(x, v): x is a plain string containing v, or a list with an element equal to v.
contains_value(x, v) if {
	plain(x)
	is_string(v)
	contains(x, v)
}

contains_value(x, v) if {
	is_array(x)
	v in x
}

# ---------------------------------------------------------------------------------------------
# Other helpers.

# largest(xs) / smallest(xs): the largest / smallest of a collection of numbers. Not max/min:
# regopy's max, min and sort order numbers as text (min([3000, 7]) is 3000 there); < and >
# compare them as numbers on both engines. Undefined for an empty collection.
largest(xs) := m if {
	some m in xs
	count([x | some x in xs; x > m]) == 0
}

smallest(xs) := m if {
	some m in xs
	count([x | some x in xs; x < m]) == 0
}

# is_count(x): a non-negative whole number small enough for exact arithmetic on both engines.
is_count(x) if {
	is_number(x)
	x >= 0
	x <= 1000000000000
	x == floor(x)
}
