"""The sweeper: a Lambda on an EventBridge schedule, with bounded retries and its own DLQ. It heals lost S3
events through the completion path before it judges a session, so it holds the completion path's grants too."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.async_delivery import dead_letter_queue, invoke_config, rule_target
from components.lambda_function import LambdaFunction, LambdaFunctionArgs, statement
from components.processing import ProcessingTarget
from components.upload_completion import object_statements
from handlers import contract
from handlers.settings import SweeperSettings

TYPE = "session-uploads:index:Sweeper"
# A failed sweep is not retried by Lambda: the next scheduled run does the same work anyway.
SWEEP_RETRIES = 0
# EventBridge retries a sweep it could not hand to Lambda (throttling, say), within the same schedule period.
DELIVERY_RETRIES = 2
MIN_EVENT_AGE_SECONDS = 60  # the least Lambda and EventBridge accept


def schedule_expression(minutes: int) -> str:
    """EventBridge's rate expression: the unit is singular for exactly one."""
    return f"rate({minutes} {'minute' if minutes == 1 else 'minutes'})"


@dataclass
class SweeperArgs:
    bucket_name: pulumi.Input[str]
    """The session bucket, whose session prefixes the heal lists."""
    bucket_arn: pulumi.Input[str]
    """Its ARN: ListBucket under the sessions prefix only, and the completion path's grants on objects (it reads what
    S3 holds, and quarantines a refused half)."""
    table_name: pulumi.Input[str]
    """The sessions table."""
    table_arn: pulumi.Input[str]
    """Its ARN: the sweeper gets, reads window items of, and updates sessions, as the completion path does."""
    ingest_function_arn: pulumi.Input[str]
    """The ingest target: a healed window is ingested by the sweeper, once, under the same claim."""
    pending_index_arn: pulumi.Input[str]
    """The sparse index of pending sessions: how the sweeper finds the sessions to settle."""
    processing: ProcessingTarget
    """Where the triggers still owed to ready sessions are delivered."""
    finalizing_timeout_seconds: int
    """A session still finalizing this long after complete becomes incomplete."""
    schedule_minutes: int
    """How often the sweeper runs."""
    account_id: pulumi.Input[str]
    """The schedule rule's account: the invoke permission's source account."""
    runtime: str
    """Lambda runtime."""
    layer_arn: pulumi.Input[str]
    """The stack's layer of third-party packages."""
    log_retention_days: int
    """Retention of the function's log group."""
    kms_key_arn: pulumi.Input[str] | None = None
    """The bucket's KMS key, when it has one: the completion path reads what S3 holds (decrypting it) and quarantines
    a refused half (a copy, encrypted anew)."""


class Sweeper(pulumi.ComponentResource):
    handler: LambdaFunction
    dlq: aws.sqs.Queue
    rule: aws.cloudwatch.EventRule
    permission: aws.lambda_.Permission
    target: aws.cloudwatch.EventTarget
    dlq_url: pulumi.Output[str]
    dlq_arn: pulumi.Output[str]

    def __init__(self, name: str, args: SweeperArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # A sweep older than one period is superseded by the next one.
        max_event_age = max(MIN_EVENT_AGE_SECONDS, args.schedule_minutes * 60)

        self.dlq = dead_letter_queue(f"{name}-dlq", self)
        self.handler = LambdaFunction(
            f"{name}-handler",
            LambdaFunctionArgs(
                handler="handlers.sweeper.app.lambda_handler",
                service_name="session-uploads-sweeper",
                runtime=args.runtime,
                layer_arn=args.layer_arn,
                log_retention_days=args.log_retention_days,
                statements=[
                    statement(["dynamodb:Query"], [args.pending_index_arn], sid="PendingSessions"),
                    # Query: a session's window items (what the heal compares with the listing); BatchGetItem,
                    # PutItem, UpdateItem: the completion path's reads and writes (also those of its transactions).
                    statement(["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query",
                               "dynamodb:UpdateItem"], [args.table_arn], sid="Sessions"),
                    # The completion path's own grants on the bucket, listing one session's prefix at a time.
                    *object_statements(args.bucket_arn, args.kms_key_arn),
                    statement(["lambda:InvokeFunction"], [args.ingest_function_arn], sid="Ingest"),
                    *args.processing.statements(),
                    statement(["sqs:SendMessage"], [self.dlq.arn], sid="DeadLetters"),
                ],
                environment=SweeperSettings(
                    bucket_name=args.bucket_name,
                    table_name=args.table_name,
                    ingest_function_name=args.ingest_function_arn,
                    finalizing_timeout_seconds=args.finalizing_timeout_seconds,
                    processing=args.processing.settings(),
                ).environment(),
                # One run walks every pending session; overlapping runs are safe (every write is conditional).
                timeout_seconds=contract.SWEEPER_FUNCTION_TIMEOUT_SECONDS,
                description="session-uploads sweeper",
            ),
            opts=child,
        )
        invoke_config(f"{name}-invoke-config", self.handler.function, self.dlq, SWEEP_RETRIES, max_event_age, self)
        # Schedules run on the default bus only.
        self.rule = aws.cloudwatch.EventRule(
            f"{name}-schedule",
            aws.cloudwatch.EventRuleArgs(
                schedule_expression=schedule_expression(args.schedule_minutes),
                description="session-uploads: sweep finalizing sessions",
            ),
            opts=child,
        )
        self.permission, self.target = rule_target(
            name, self.rule, self.handler.function, self.dlq, args.account_id, DELIVERY_RETRIES, max_event_age, self
        )
        self.dlq_url = self.dlq.url
        self.dlq_arn = self.dlq.arn
        self.register_outputs({"functionArn": self.handler.arn, "dlqUrl": self.dlq_url, "dlqArn": self.dlq_arn})
