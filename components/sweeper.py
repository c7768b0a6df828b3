"""The completion sweeper: a Lambda on an EventBridge schedule, with bounded retries and its own DLQ."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.async_delivery import dead_letter_queue, invoke_config, rule_target
from components.lambda_function import LambdaFunction, LambdaFunctionArgs, statement
from components.processing import ProcessingTarget
from handlers import contract

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
    table_name: pulumi.Input[str]
    """The sessions table."""
    table_arn: pulumi.Input[str]
    """Its ARN: the sweeper gets and updates items."""
    pending_index_arn: pulumi.Input[str]
    """The sparse index of pending sessions: the only thing the sweeper queries."""
    processing: ProcessingTarget
    """Where the triggers still owed to ready sessions are delivered."""
    completion_timeout_seconds: int
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


class Sweeper(pulumi.ComponentResource):
    handler: LambdaFunction
    dlq: aws.sqs.Queue
    rule: aws.cloudwatch.EventRule
    permission: aws.lambda_.Permission
    target: aws.cloudwatch.EventTarget

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
                    statement(["dynamodb:GetItem", "dynamodb:UpdateItem"], [args.table_arn], sid="Sessions"),
                    *args.processing.statements(),
                    statement(["sqs:SendMessage"], [self.dlq.arn], sid="DeadLetters"),
                ],
                environment={
                    contract.ENV_SESSIONS_TABLE_NAME: args.table_name,
                    contract.ENV_COMPLETION_TIMEOUT_SECONDS: str(args.completion_timeout_seconds),
                    **args.processing.environment(),
                },
                # One run walks every pending session; overlapping runs are safe (every write is conditional).
                timeout_seconds=contract.SWEEPER_FUNCTION_TIMEOUT_SECONDS,
                description="session-uploads completion sweeper",
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
        self.register_outputs({"functionArn": self.handler.arn, "dlqArn": self.dlq.arn})
