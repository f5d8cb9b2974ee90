# METADATA
# title: RBAC access control
# description: >-
#   Who may do what, from role data: a role grants the actions listed in
#   data.greenlang.rbac.roles (admin "*", operator "invoke"), and members of an agent's
#   owner team get data.greenlang.rbac.owner_team_actions on that agent. Anyone else is denied.
# custom:
#   policy_id: rbac-access-control
#   type: access_control
#   enforcement: deny
#   enabled: true
package greenlang.policies.rbac_access_control

import data.greenlang.lib

policy_id := "rbac-access-control"

violations contains {"policy_id": policy_id, "message": "user may not perform this action on this agent"} if {
	not permitted
}

permitted if role_permits

# Owner-team membership only counts (and the agent's facts are only merged) when no role
# grants the action.
permitted if {
	not role_permits
	team_permits
}

# A role of the user grants the action (on any agent).
role_permits if {
	some role in lib.roles
	grant := object.get(data.greenlang.rbac.roles, role, {})
	action_granted(object.get(grant, "actions", []))
}

# The user is in the agent's owner team and owner teams may do the action.
team_permits if {
	team := lib.user.team
	is_string(team)
	team != ""
	team == lib.agent.owner_team
	action_granted(data.greenlang.rbac.owner_team_actions)
}

action_granted(actions) if {
	is_array(actions)
	"*" in actions
}

action_granted(actions) if {
	is_array(actions)
	is_string(lib.request.action)
	lib.request.action in actions
}
