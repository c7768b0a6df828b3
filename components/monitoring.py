"""Alarms on the DLQs, every function's errors and throttles, and the handlers' own failure metrics, to one topic."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from handlers import contract

TYPE = "session-uploads:index:Monitoring"


@dataclass(frozen=True)
class QueueWatch:
    queue_name: pulumi.Input[str]
    """A dead-letter queue: anything in it is an event that exhausted its retries."""
    description: str
    """What a message there means, for whoever is paged."""


@dataclass(frozen=True)
class MetricWatch:
    service_name: str
    """The emitting function's POWERTOOLS_SERVICE_NAME: Powertools puts it in the `service` dimension."""
    metric_name: str
    """A count the handler emits in contract.METRICS_NAMESPACE; any value above zero alarms."""
    description: str
    """What it means, for whoever is paged."""


@dataclass
class MonitoringArgs:
    dead_letter_queues: Mapping[str, QueueWatch]
    """Every DLQ of the stack, by a short label used in alarm names."""
    function_names: Mapping[str, pulumi.Input[str]]
    """Every Lambda of the stack, by a short label used in alarm names."""
    metrics: Mapping[str, MetricWatch]
    """The handlers' own failure counts, by a short label used in alarm names."""
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
        for label, queue in args.dead_letter_queues.items():
            self._alarm(name, f"{label}-dlq-not-empty", "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum",
                        {"QueueName": queue.queue_name}, queue.description)
        for label, function_name in args.function_names.items():
            dimensions = {"FunctionName": function_name}
            self._alarm(name, f"{label}-errors", "AWS/Lambda", "Errors", "Sum", dimensions,
                        f"The {label} function raised errors")
            self._alarm(name, f"{label}-throttles", "AWS/Lambda", "Throttles", "Sum", dimensions,
                        f"The {label} function was throttled")
        for label, watch in args.metrics.items():
            self._alarm(name, label, contract.METRICS_NAMESPACE, watch.metric_name, "Sum",
                        {"service": watch.service_name}, watch.description)
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
