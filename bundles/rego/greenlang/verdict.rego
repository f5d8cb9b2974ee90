# The verdict of a decision without its obligations: data.greenlang.verdict.
#
#   {"allow": bool, "decision": "allow" | "warn" | "deny", "violations": [{"policy_id",
#    "message"}], "warnings": [...], "evaluated": [policy_id], "denied_types": [type]}
#
# data.greenlang.decision is this plus "obligations". A caller that already has the obligations
# (the sidecar's rate and post-execution queries) asks for the verdict and saves their cost.
# Lists are sorted (policy_id, then message) so both engines return identical documents.
# Every rule of this package is part of that document: helpers live in greenlang.engine/lib.
package greenlang.verdict

import data.greenlang.engine

violations := [{"policy_id": f[0], "message": f[1]} | some f in engine.violations]

warnings := [{"policy_id": f[0], "message": f[1]} | some f in engine.warnings]

evaluated := engine.evaluated

denied_types := engine.denied_types

decision := "deny" if {
	count(engine.violations) > 0
} else := "warn" if {
	count(engine.warnings) > 0
} else := "allow"

allow := decision != "deny"
