# METADATA
# title: Data access within the agent's clearance
# description: >-
#   A request's data classification must be within the agent's clearance, on the
#   ordered scale data.greenlang.data_access.levels (public < internal < confidential <
#   restricted). Unclassified requests count as data.greenlang.data_access.default_classification;
#   agents without a clearance have data.greenlang.data_access.default_clearance.
# custom:
#   policy_id: data-access-clearance
#   type: data_access
#   enforcement: deny
#   enabled: true
package greenlang.policies.data_access_clearance

import data.greenlang.lib

policy_id := "data-access-clearance"

config := data.greenlang.data_access if {
	is_object(data.greenlang.data_access)
} else := {}

# Both are always defined (null when unknown): OPA makes `not level(<undefined>)` undefined.
classification := object.get(lib.request, ["request", "data_classification"], null) if {
	object.get(lib.request, ["request", "data_classification"], null) != null
} else := object.get(config, "default_classification", null)

clearance := object.get(lib.agent, "data_clearance", null) if {
	object.get(lib.agent, "data_clearance", null) != null
} else := object.get(config, "default_clearance", null)

# level[name] is the position of name on the scale (computed once per decision).
level[name] := i if {
	some i, name in object.get(config, "levels", [])
	is_string(name)
}

violations contains {"policy_id": policy_id, "message": "request data classification is unknown"} if {
	not level[classification]
}

violations contains {"policy_id": policy_id, "message": "agent data clearance is unknown"} if {
	not level[clearance]
}

violations contains {"policy_id": policy_id, "message": "request data is classified above the agent's clearance"} if {
	level[classification] > level[clearance]
}
