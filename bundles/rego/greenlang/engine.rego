# Which policies a decision runs, and what they found. Kept out of package greenlang.decision
# because every rule of that package is part of the decision document.
#
# A policy is a package data.greenlang.policies.<key> that defines `policy_id` and the sets
# `violations` and `warnings` of {"policy_id", "message"} objects; its metadata is the data
# entry data.greenlang.policy_meta.<key> = {"policy_id", "type", "enforcement", "enabled", "name"}.
# The compiler also writes data.greenlang.policy_index.<type> = [[key, policy_id], ...], the
# enabled policies of each type: the decision reads only the requested types' entries.
#
# Written for regopy's speed as much as for reading: comprehensions over arrays rather than
# partial rules, no per-policy function calls, and as few object and set constructions per
# policy as possible (regopy costs a few µs per expression, more per value it builds).
package greenlang.engine

import data.greenlang.lib

all_types := {"access_control", "rate_limiting", "compliance", "deployment", "data_access", "retention"}

# The requested types (a set): input.policy_types when it is a list, every type when it is
# absent (or null, or not a list).
requested := {t | some t in lib.request.policy_types} if {
	is_array(lib.request.policy_types)
} else := all_types

# index[type]: [key, policy_id] of every enabled policy of that type. Computed from the
# metadata only when the data has no index (a compile output from before the index existed).
index := data.greenlang.policy_index if {
	is_object(data.greenlang.policy_index)
} else := {t: [[key, meta.policy_id] |
	some key in object.keys(data.greenlang.policy_meta)
	meta := data.greenlang.policy_meta[key]
	meta.enabled == true
	meta.type == t
] |
	some t in all_types
}

# [key, policy_id] of every enabled policy of a requested type.
selected := [pair |
	some t in requested
	some pair in index[t]
]

evaluated := sort([pair[1] | some pair in selected])

# [policy_id, message] of every finding, sorted: sorting the finding objects themselves
# orders differently on the two engines, sorting these pairs does not.
violations := sort(array.concat(found_violations, not_loaded))

warnings := sort([[pair[1], w.message] |
	some pair in selected
	some w in data.greenlang.policies[pair[0]].warnings
])

found_violations := [[pair[1], v.message] |
	some pair in selected
	some v in data.greenlang.policies[pair[0]].violations
]

# An enabled policy without its module (or with another policy's module under its key) must
# not pass silently.
not_loaded := [[pair[1], "policy module is not loaded"] |
	some pair in selected
	not data.greenlang.policies[pair[0]].policy_id == pair[1]
]

# The types of the policies with violations, sorted ([] when there are none): an allowed
# decision pays one count. The type is read from the metadata, whose key is the policy_id with
# - replaced by _ (a few lookups); only an index entry without metadata (hand-made data) makes
# it scan the selected policies.
denied_types := [] if {
	count(violations) == 0
} else := sorted if {
	types := {object.get(data.greenlang.policy_meta, [replace(f[0], "-", "_"), "type"], null) | some f in violations}
	not null in types
	sorted := sort(types)
} else := sort({t |
	violating := {f[0] | some f in violations}
	some t in requested
	some pair in index[t]
	pair[1] in violating
})

# The `breakpoints` arrays of the selected policies that declare whole-number ones
# (greenlang.rate_bands needs every selected policy to).
declared_breakpoints := [points |
	some pair in selected
	points := data.greenlang.policies[pair[0]].breakpoints
	is_array(points)
	count([b | some b in points; is_number(b); b == floor(b)]) == count(points)
]
