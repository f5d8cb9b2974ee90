package greenlang.policies.deployment_test

import data.greenlang.test

test_production_with_independent_approval if test.as_expected("deploy_production_approved")

test_production_self_approval_denied if {
	test.as_expected("deploy_production_self_approved")
	d := test.decide("deploy_production_self_approved")
	test.messages(d.violations, "deployment-approval") == {"deployment needs an approval by someone other than its author"}
}

test_production_without_approval_denied if test.as_expected("deploy_production_unapproved")

test_production_without_author_denied if test.as_expected("deploy_production_no_author")

test_requested_by_names_the_author if test.as_expected("deploy_requested_by_other")

test_production_uncertified_denied if test.as_expected("deploy_production_uncertified")

test_production_expired_certificate_denied if test.as_expected("deploy_production_expired")

test_staging_needs_no_approval if test.as_expected("deploy_staging_unapproved")

test_deprecated_version_warns if test.as_expected("deploy_deprecated_warns")

test_required_approvals_are_data if {
	d := test.decide("deploy_production_approved") with data.greenlang.deployment.approval_required.production as 2
	d.decision == "deny"
}

test_production_certified_allowed if test.as_expected("deploy_production_certified")

test_active_version_no_warning if test.as_expected("deploy_active_version_no_warning")
