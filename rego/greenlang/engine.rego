# Which policies a decision runs, and what they found. Kept out of package greenlang.decision
# because every rule of that package is part of the decision document.
#
# A policy is a package data.greenlang.policies.<key> that defines `policy_id` and the sets
# `violations` and `warnings` of {"policy_id", "message"} objects; its metadata is the data
# entry data.greenlang.policy_meta.<key> = {"policy_id", "type", "enforcement", "enabled", "name"}.
#
# Written for regopy's speed as much as for reading: comprehensions over arrays rather than
# partial rules, and no per-policy function calls (regopy costs a few µs per expression).
package greenlang.engine

import data.greenlang.lib

all_types := {
	"access_control": true,
	"rate_limiting": true,
	"compliance": true,
	"deployment": true,
	"data_access": true,
	"retention": true,
}

# requested[type] for each requested type: input.policy_types when it is a list, every type
# when it is absent (or null, or not a list).
requested := {t: true | some t in lib.request.policy_types} if {
	is_array(lib.request.policy_types)
} else := all_types

# [key, policy_id] of every enabled policy of a requested type.
selected := [[key, meta.policy_id] |
	some key in object.keys(data.greenlang.policy_meta)
	meta := data.greenlang.policy_meta[key]
	meta.enabled == true
	requested[meta.type]
]

evaluated := sort([pair[1] | some pair in selected])

# Keys of selected policies whose module is there and is the policy the metadata names.
loaded := {pair[0] |
	some pair in selected
	data.greenlang.policies[pair[0]].policy_id == pair[1]
}

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

# An enabled policy without its module must not pass silently.
not_loaded := [[pair[1], "policy module is not loaded"] |
	some pair in selected
	not loaded[pair[0]]
]
