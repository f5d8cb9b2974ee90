# The decision entrypoint: data.greenlang.decision.
#
# Runs every enabled policy whose type the input asks for (input.policy_types; all when absent)
# and combines what they found (that part is data.greenlang.verdict), plus the obligations:
#   {"allow": bool, "decision": "allow" | "warn" | "deny",
#    "violations": [{"policy_id", "message"}], "warnings": [...], "evaluated": [policy_id],
#    "denied_types": [type], "obligations": {...}}
# Lists are sorted (policy_id, then message) so both engines return identical documents.
# denied_types: the types of the policies with violations; obligations: what the sidecar must
# enforce for the call (limits, masks), see greenlang.obligations.
# Every rule of this package is part of that document: helpers live in greenlang.engine/lib.
package greenlang.decision

import data.greenlang.verdict

violations := verdict.violations

warnings := verdict.warnings

evaluated := verdict.evaluated

denied_types := verdict.denied_types

decision := verdict.decision

allow := verdict.allow

obligations := data.greenlang.obligations.document
