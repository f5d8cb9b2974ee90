# METADATA
# title: Deployment approval by a second person
# description: >-
#   Deploying to an environment listed in data.greenlang.deployment.approval_required
#   (production, 1) needs deployment.approvals from that many people other
#   than the deployment's author (deployment.requested_by, else the requesting user).
#   An approval is a user id or an object {"by": user_id, ...}.
# custom:
#   policy_id: deployment-approval
#   type: deployment
#   enforcement: deny
#   enabled: true
package greenlang.policies.deployment_approval

import data.greenlang.lib

policy_id := "deployment-approval"

config := data.greenlang.deployment

environment := lib.request.deployment.environment

author := lib.request.deployment.requested_by if {
	is_string(lib.request.deployment.requested_by)
} else := lib.user.id if {
	is_string(lib.user.id)
}

approver(a) := a if is_string(a)

approver(a) := a.by if {
	is_object(a)
	is_string(a.by)
}

approvals := lib.request.deployment.approvals if {
	is_array(lib.request.deployment.approvals)
} else := []

# Distinct approvers, not counting the author (nor anyone when the author is unknown).
independent_approvers contains who if {
	some a in approvals
	who := approver(a)
	who != ""
	author_known
	who != author
}

author_known if is_string(author)

required := config.approval_required[environment] if {
	is_string(environment)
	lib.is_count(config.approval_required[environment])
}

violations contains {"policy_id": policy_id, "message": "deployment needs an approval by someone other than its author"} if {
	needed := required # first: nothing else is computed for environments without approvals
	count(independent_approvers) < needed
}
