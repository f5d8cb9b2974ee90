# METADATA
# title: Audit retention
# description: >-
#   Audit records are kept at least data.greenlang.retention.audit_days days (longer for
#   classifications listed in data.greenlang.retention.by_classification). A purge
#   (action "audit.purge") of records younger than that (request.older_than_days) is denied.
# custom:
#   policy_id: audit-retention
#   type: retention
#   enforcement: deny
#   enabled: true
package greenlang.policies.audit_retention

import data.greenlang.lib

policy_id := "audit-retention"

config := data.greenlang.retention

purge if lib.request.action == "audit.purge"

# null when missing, so `not lib.is_count(older_than)` is defined on both engines.
older_than := object.get(lib.request, ["request", "older_than_days"], null)

# Days records must be kept: the longest of the default and the classification's rule.
retention_days := lib.largest({config.audit_days, config.by_classification[class]}) if {
	class := lib.request.request.data_classification
	is_string(class)
	lib.is_count(config.by_classification[class])
} else := config.audit_days

violations contains {"policy_id": policy_id, "message": "audit purge must say how old the records are (request.older_than_days)"} if {
	purge
	not lib.is_count(older_than)
}

violations contains {"policy_id": policy_id, "message": "audit records may not be purged before the retention period ends"} if {
	purge
	lib.is_count(older_than)
	older_than < retention_days
}
