"""Asynchronous delivery to a Lambda: its dead-letter queue, bounded retries, and an EventBridge rule's target."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # SQS's maximum


def dead_letter_queue(name: str, parent: pulumi.Resource) -> aws.sqs.Queue:
    """An encrypted queue keeping failed events as long as SQS allows."""
    return aws.sqs.Queue(
        name,
        aws.sqs.QueueArgs(message_retention_seconds=DLQ_RETENTION_SECONDS, sqs_managed_sse_enabled=True),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def invoke_config(name: str, function: aws.lambda_.Function, dlq: aws.sqs.Queue, retries: int,
                  max_event_age_seconds: int, parent: pulumi.Resource) -> aws.lambda_.FunctionEventInvokeConfig:
    """Lambda's own retries of a failed asynchronous invocation, then the DLQ as on-failure destination
    (sent with the function's role, which therefore needs sqs:SendMessage on it)."""
    return aws.lambda_.FunctionEventInvokeConfig(
        name,
        aws.lambda_.FunctionEventInvokeConfigArgs(
            function_name=function.name,
            maximum_retry_attempts=retries,
            maximum_event_age_in_seconds=max_event_age_seconds,
            destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
                on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(destination=dlq.arn),
            ),
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def rule_target(name: str, rule: aws.cloudwatch.EventRule, function: aws.lambda_.Function, dlq: aws.sqs.Queue,
                account_id: pulumi.Input[str], retries: int, max_event_age_seconds: int,
                parent: pulumi.Resource) -> tuple[aws.lambda_.Permission, aws.cloudwatch.EventTarget]:
    """The rule invokes the function: a permission scoped to the rule and the account, bounded retries, and
    the DLQ for what EventBridge could not deliver (sent by EventBridge itself, hence the queue policy)."""
    child = pulumi.ResourceOptions(parent=parent)
    permission = aws.lambda_.Permission(
        f"{name}-events-permission",
        aws.lambda_.PermissionArgs(action="lambda:InvokeFunction", function=function.name,
                                   principal="events.amazonaws.com", source_arn=rule.arn, source_account=account_id),
        opts=child,
    )
    aws.sqs.QueuePolicy(
        f"{name}-dlq-policy",
        aws.sqs.QueuePolicyArgs(
            queue_url=dlq.url,
            policy=aws.iam.get_policy_document_output(statements=[aws.iam.GetPolicyDocumentStatementArgs(
                sid="RuleDeadLetters", effect="Allow", actions=["sqs:SendMessage"], resources=[dlq.arn],
                principals=[aws.iam.GetPolicyDocumentStatementPrincipalArgs(
                    type="Service", identifiers=["events.amazonaws.com"])],
                conditions=[aws.iam.GetPolicyDocumentStatementConditionArgs(
                    test="ArnEquals", variable="aws:SourceArn", values=[rule.arn])],
            )]).json,
        ),
        opts=child,
    )
    target = aws.cloudwatch.EventTarget(
        f"{name}-target",
        aws.cloudwatch.EventTargetArgs(
            rule=rule.name,
            arn=function.arn,
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_retry_attempts=retries, maximum_event_age_in_seconds=max_event_age_seconds),
            dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=dlq.arn),
        ),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[permission]),
    )
    return permission, target
