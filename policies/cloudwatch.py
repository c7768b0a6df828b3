"""CloudWatch: every alarm notifies someone when it fires."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from policies.common import MANDATORY, as_list

METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def _alarm_actions(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != METRIC_ALARM:
        return
    if args.props.get("actionsEnabled") is False:
        report_violation("actionsEnabled is false: the alarm changes state and tells no one.", None)
    elif not as_list(args.props.get("alarmActions")):
        report_violation("the alarm has no alarmActions: it fires and tells no one.", None)


cloudwatch_alarm_actions = ResourceValidationPolicy(
    name="cloudwatch-alarm-actions",
    description="Every metric alarm has enabled alarm actions, so that firing reaches someone.",
    enforcement_level=MANDATORY,
    validate=_alarm_actions,
)

POLICIES = [cloudwatch_alarm_actions]
