# The decision entrypoint: data.greenlang.decision.
#
# Runs every enabled policy whose type the input asks for (input.policy_types; all when absent)
# and combines what they found:
#   {"allow": bool, "decision": "allow" | "warn" | "deny",
#    "violations": [{"policy_id", "message"}], "warnings": [...], "evaluated": [policy_id],
#    "denied_types": [type], "obligations": {...}}
# Lists are sorted (policy_id, then message) so both engines return identical documents.
# denied_types: the types of the policies with violations; obligations: what the sidecar must
# enforce for the call (limits, masks), see greenlang.obligations.
# Every rule of this package is part of that document: helpers live in greenlang.engine/lib.
package greenlang.decision

import data.greenlang.engine

violations := [{"policy_id": f[0], "message": f[1]} | some f in engine.violations]

warnings := [{"policy_id": f[0], "message": f[1]} | some f in engine.warnings]

evaluated := engine.evaluated

denied_types := engine.denied_types

obligations := data.greenlang.obligations.document

decision := "deny" if {
	count(engine.violations) > 0
} else := "warn" if {
	count(engine.warnings) > 0
} else := "allow"

allow := decision != "deny"
