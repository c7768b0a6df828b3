"""DynamoDB: every table can be restored to any second of the last 35 days and is encrypted with KMS."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from policies.common import MANDATORY, dig

TABLE = "aws:dynamodb/table:Table"


def _point_in_time_recovery(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == TABLE and dig(args.props, "pointInTimeRecovery", "enabled") is not True:
        report_violation("pointInTimeRecovery.enabled is not true: a bad write could not be undone.", None)


dynamodb_point_in_time_recovery = ResourceValidationPolicy(
    name="dynamodb-point-in-time-recovery",
    description="Every table has point-in-time recovery enabled.",
    enforcement_level=MANDATORY,
    validate=_point_in_time_recovery,
)


def _encryption(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    # Without it a table is still encrypted, but with a key AWS owns: no key policy, no CloudTrail record of use.
    if args.resource_type == TABLE and dig(args.props, "serverSideEncryption", "enabled") is not True:
        report_violation("serverSideEncryption.enabled is not true: the table is not encrypted with a KMS key.", None)


dynamodb_encryption = ResourceValidationPolicy(
    name="dynamodb-encryption",
    description="Every table is encrypted at rest with a KMS key (AWS managed or customer managed).",
    enforcement_level=MANDATORY,
    validate=_encryption,
)

POLICIES = [dynamodb_point_in_time_recovery, dynamodb_encryption]
