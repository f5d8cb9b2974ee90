# METADATA
# title: Sidecar obligations are usable
# description: >-
#   The obligations the sidecar enforces for the agent (data.greenlang.sidecar: defaults
#   overlaid with agents[<agent id>]) must be usable, or the call is denied rather than run
#   unmasked or unlimited: every mask name has a pattern (mask_patterns, shared or the
#   agent's own), mask is a list, timeout_s is a number of seconds in (0, 86400] and the
#   byte limits are numbers >= 0 (token-limit checks max_tokens when there is usage).
#   Bundle builds check everything (bundles/sidecar_data.py): also whole numbers, unknown
#   keys, mask name syntax and that Python's re compiles every pattern.
# custom:
#   policy_id: sidecar-obligations
#   type: compliance
#   enforcement: deny
#   enabled: true
package greenlang.policies.sidecar_obligations

import data.greenlang.obligations

policy_id := "sidecar-obligations"

# The checks, at once: this policy runs on every call the sidecar checks, so the findings below
# are only worked out when this fails.
usable if {
	doc := obligations.document
	is_number(doc.timeout_s)
	doc.timeout_s > 0
	doc.timeout_s <= 86400
	is_number(doc.max_request_bytes)
	doc.max_request_bytes >= 0
	is_number(doc.max_response_bytes)
	doc.max_response_bytes >= 0
	is_array(object.get(obligations.settings, "mask", []))
	count([m | some m in doc.mask; is_string(m.pattern)]) == count(doc.mask)
}

violations contains {"policy_id": policy_id, "message": message} if {
	not usable
	some message in problems
}

# Not usable, and none of the problems below says why: still a denial.
violations contains {"policy_id": policy_id, "message": "sidecar obligations are not usable"} if {
	not usable
	count(problems) == 0
}

# What is wrong, worked out only for a decision that is not usable. Every value checked is
# bound first: a call is never negated on an undefined value (OPA and regopy differ there).
problems contains "sidecar obligations need defaults (data.greenlang.sidecar.defaults)" if {
	not has_settings
}

has_settings if is_object(obligations.settings)

problems contains "sidecar timeout_s must be a number of seconds, more than 0 and at most 86400" if {
	timeout := obligations.document.timeout_s
	not valid_timeout(timeout)
}

valid_timeout(timeout) if {
	is_number(timeout)
	timeout > 0
	timeout <= 86400
}

problems contains concat("", ["sidecar ", key, " must be a number of bytes"]) if {
	some key in ["max_request_bytes", "max_response_bytes"]
	limit := obligations.document[key]
	not valid_bytes(limit)
}

valid_bytes(limit) if {
	is_number(limit)
	limit >= 0
}

problems contains "sidecar mask must be a list of mask names" if {
	has_settings
	mask := object.get(obligations.settings, "mask", [])
	not is_array(mask)
}

# Names go into the message only when they are plain words: other text prints differently on
# the two engines (and bundle builds refuse such names).
problems contains concat("", ["sidecar mask ", m.name, " has no pattern in data.greenlang.sidecar.mask_patterns"]) if {
	some m in obligations.document.mask
	not is_string(m.pattern)
	regex.match(`^[a-z0-9][a-z0-9_-]{0,63}$`, m.name)
}

problems contains "a sidecar mask has no pattern in data.greenlang.sidecar.mask_patterns" if {
	some m in obligations.document.mask
	not is_string(m.pattern)
	not regex.match(`^[a-z0-9][a-z0-9_-]{0,63}$`, m.name)
}
