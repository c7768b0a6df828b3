"""Alarms on the DLQ and on every function's errors and throttles, published to one SNS topic."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

TYPE = "session-uploads:index:Monitoring"


@dataclass
class MonitoringArgs:
    dlq_name: pulumi.Input[str]
    """The completion DLQ: anything in it is a window that was never recorded."""
    function_names: Mapping[str, pulumi.Input[str]]
    """Every Lambda of the stack, by a short label used in alarm names."""
    alarm_email: str | None = None
    """Subscribed to the topic when given (the address must confirm the subscription)."""


class Monitoring(pulumi.ComponentResource):
    topic: aws.sns.Topic
    topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # No SSE on the topic: CloudWatch cannot publish to a topic encrypted with the AWS managed key.
        self.topic = aws.sns.Topic(f"{name}-alarms", aws.sns.TopicArgs(), opts=child)
        if args.alarm_email:
            aws.sns.TopicSubscription(
                f"{name}-alarm-email",
                aws.sns.TopicSubscriptionArgs(topic=self.topic.arn, protocol="email", endpoint=args.alarm_email),
                opts=child,
            )
        self._alarm(name, "dlq-not-empty", "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum",
                    {"QueueName": args.dlq_name}, "Completion events exhausted their retries: windows unrecorded")
        for label, function_name in args.function_names.items():
            dimensions = {"FunctionName": function_name}
            self._alarm(name, f"{label}-errors", "AWS/Lambda", "Errors", "Sum", dimensions,
                        f"The {label} function raised errors")
            self._alarm(name, f"{label}-throttles", "AWS/Lambda", "Throttles", "Sum", dimensions,
                        f"The {label} function was throttled")
        self.topic_arn = self.topic.arn
        self.register_outputs({"topicArn": self.topic_arn})

    def _alarm(self, name: str, suffix: str, namespace: str, metric: str, statistic: str,
               dimensions: Mapping[str, pulumi.Input[str]], description: str) -> aws.cloudwatch.MetricAlarm:
        return aws.cloudwatch.MetricAlarm(
            f"{name}-{suffix}",
            aws.cloudwatch.MetricAlarmArgs(
                namespace=namespace,
                metric_name=metric,
                statistic=statistic,
                dimensions=dict(dimensions),
                period=60,
                evaluation_periods=1,
                threshold=0,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data="notBreaching",
                alarm_description=description,
                alarm_actions=[self.topic.arn],
                ok_actions=[self.topic.arn],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
