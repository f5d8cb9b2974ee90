package greenlang.policies.retention_test

import data.greenlang.test

test_purge_after_retention_allowed if test.as_expected("retention_purge_after_period")

test_purge_before_retention_denied if {
	test.as_expected("retention_purge_too_early")
	d := test.decide("retention_purge_too_early")
	test.messages(d.violations, "audit-retention") == {"audit records may not be purged before the retention period ends"}
}

test_restricted_records_kept_longer if test.as_expected("retention_purge_restricted_longer")

test_restricted_records_after_period if test.as_expected("retention_purge_restricted_after")

test_purge_must_give_age if test.as_expected("retention_purge_without_age")

test_unclassified_write_warns if test.as_expected("retention_unclassified_write_warns")

test_classified_write_allowed if test.as_expected("retention_classified_write")

test_retention_days_are_data if {
	d := test.decide("retention_purge_too_early") with data.greenlang.retention.audit_days as 7
	d.decision == "allow"
}
