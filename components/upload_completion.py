"""Upload completion: the Lambda S3 events reach (notification or EventBridge), its retries and its DLQ."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.async_delivery import dead_letter_queue, invoke_config, rule_target
from components.lambda_function import LambdaFunction, LambdaFunctionArgs, condition, statement
from components.processing import ProcessingTarget
from handlers import contract, layout
from handlers.settings import CompletionSettings

TYPE = "session-uploads:index:UploadCompletion"
ASYNC_RETRIES = 2  # Lambda's maximum: a failed event is tried three times, then lands in the DLQ


@dataclass
class UploadCompletionArgs:
    bucket_name: pulumi.Input[str]
    """The session bucket whose object-created events complete windows."""
    bucket_arn: pulumi.Input[str]
    """Its ARN: the only source allowed to invoke the function."""
    table_name: pulumi.Input[str]
    """The sessions table."""
    table_arn: pulumi.Input[str]
    """Its ARN: the function gets and updates items."""
    ingest_function_arn: pulumi.Input[str]
    """The ingest target, the only function this one may invoke."""
    processing: ProcessingTarget
    """Where SessionReady goes when a late window makes a finalizing session ready."""
    account_id: pulumi.Input[str]
    """The bucket owner's account: the source account of the permission S3 or EventBridge invokes through."""
    runtime: str
    """Lambda runtime."""
    layer_arn: pulumi.Input[str]
    """The stack's layer of third-party packages."""
    log_retention_days: int
    """Retention of the function's log group."""
    max_event_age_seconds: int
    """An event older than this goes to the DLQ instead of being retried."""
    event_transport: contract.EventTransport = contract.EventTransport.NOTIFICATION
    """How the bucket's events reach the function: its own notification, or a rule on the default bus."""
    kms_key_arn: pulumi.Input[str] | None = None
    """The bucket's KMS key, when it has one: reading a half decrypts it, quarantining one re-encrypts its copy."""


def key_pattern(bucket: str) -> str:
    """The EventBridge pattern of an object of the layout created in `bucket`."""
    return json.dumps({
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        # One wildcard per half holds both its prefix and its suffix (the matchers of one field are OR-ed, so a
        # prefix and a suffix matcher side by side would match either).
        "detail": {"bucket": {"name": [bucket]},
                   "object": {"key": [{"wildcard": f"{prefix}*{suffix}"} for prefix, suffix in layout.object_filters()]}},
    })


def object_statements(
    bucket_arn: pulumi.Input[str], kms_key_arn: pulumi.Input[str] | None
) -> list[aws.iam.GetPolicyDocumentStatementArgs]:
    """What the completion path does to the bucket, for every function that runs it (this one, and the sweeper when
    it heals lost events): HeadObject (size, ETag, checksum, the frame count) and one ranged GET per half; a refused
    half copied to the quarantine prefix, then deleted. ListBucket, on the sessions prefix only, so that S3 answers a
    HeadObject of a key that is gone (a half already quarantined) with 404, not 403 (IAM evaluates the condition;
    moto does not). With a KMS key, reading a half decrypts its data key and its quarantine copy gets a new one."""

    def objects(prefix: str) -> pulumi.Output[str]:
        return pulumi.Output.from_input(bucket_arn).apply(lambda arn: layout.objects_arn(arn, prefix))

    return [
        statement(["s3:ListBucket"], [bucket_arn], sid="ListSessions",
                  conditions=[condition("StringLike", "s3:prefix", [f"{layout.SESSIONS_PREFIX}*"])]),
        statement(["s3:DeleteObject", "s3:GetObject"], [objects(layout.SESSIONS_PREFIX)], sid="ReadUploads"),
        statement(["s3:PutObject"], [objects(layout.QUARANTINE_PREFIX)], sid="Quarantine"),
        *([statement(["kms:Decrypt", "kms:GenerateDataKey"], [kms_key_arn], sid="BucketKey")]
          if kms_key_arn is not None else []),
    ]


class UploadCompletion(pulumi.ComponentResource):
    handler: LambdaFunction
    dlq: aws.sqs.Queue
    invoke_config: aws.lambda_.FunctionEventInvokeConfig
    notification: aws.s3.BucketNotification
    permission: aws.lambda_.Permission
    rule: aws.cloudwatch.EventRule | None
    dlq_url: pulumi.Output[str]
    dlq_arn: pulumi.Output[str]

    def __init__(self, name: str, args: UploadCompletionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        transport = contract.EventTransport(args.event_transport)  # ValueError naming a transport that is not one
        child = pulumi.ResourceOptions(parent=self)

        self.dlq = dead_letter_queue(f"{name}-dlq", self)
        self.handler = LambdaFunction(
            f"{name}-handler",
            LambdaFunctionArgs(
                handler="handlers.upload_complete.app.lambda_handler",
                service_name="session-uploads-upload-complete",
                runtime=args.runtime,
                layer_arn=args.layer_arn,
                log_retention_days=args.log_retention_days,
                statements=[
                    # BatchGetItem: a session's header and a window's item in one read; PutItem (a new window's
                    # item), UpdateItem: also each write of a TransactWriteItems, which has no IAM action of its own.
                    statement(["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                              [args.table_arn], sid="Sessions"),
                    statement(["lambda:InvokeFunction"], [args.ingest_function_arn], sid="Ingest"),
                    *args.processing.statements(),
                    *object_statements(args.bucket_arn, args.kms_key_arn),
                    # Lambda sends failed events to the on-failure destination with the function's role.
                    statement(["sqs:SendMessage"], [self.dlq.arn], sid="DeadLetters"),
                ],
                environment=CompletionSettings(
                    bucket_name=args.bucket_name,
                    table_name=args.table_name,
                    ingest_function_name=args.ingest_function_arn,
                    processing=args.processing.settings(),
                ).environment(),
                timeout_seconds=contract.COMPLETION_FUNCTION_TIMEOUT_SECONDS,
                description="session-uploads upload completion",
            ),
            opts=child,
        )
        self.invoke_config = invoke_config(f"{name}-invoke-config", self.handler.function, self.dlq, ASYNC_RETRIES,
                                           args.max_event_age_seconds, self)
        self.rule = None
        if transport is contract.EventTransport.NOTIFICATION:
            self._direct_notification(name, args)
        else:
            self._eventbridge(name, args)
        self.dlq_url = self.dlq.url
        self.dlq_arn = self.dlq.arn
        self.register_outputs({"functionArn": self.handler.arn, "dlqUrl": self.dlq_url, "dlqArn": self.dlq_arn})

    def _direct_notification(self, name: str, args: UploadCompletionArgs) -> None:
        self.permission = aws.lambda_.Permission(
            f"{name}-s3-permission",
            aws.lambda_.PermissionArgs(
                action="lambda:InvokeFunction",
                function=self.handler.function.name,
                principal="s3.amazonaws.com",
                source_arn=args.bucket_arn,
                # Bucket names are global: without the account, a same-named bucket elsewhere could invoke us.
                source_account=args.account_id,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The bucket has exactly one notification configuration, and S3 validates it by test-invoking the
        # function: the permission must exist first. One configuration per half: a filter has one suffix, and
        # S3 allows configurations of the same prefix whose suffixes do not overlap.
        self.notification = aws.s3.BucketNotification(
            f"{name}-notification",
            aws.s3.BucketNotificationArgs(
                bucket=args.bucket_name,
                lambda_functions=[
                    aws.s3.BucketNotificationLambdaFunctionArgs(
                        lambda_function_arn=self.handler.function.arn,
                        events=["s3:ObjectCreated:*"],
                        filter_prefix=prefix,
                        filter_suffix=suffix,
                    )
                    for prefix, suffix in layout.object_filters()
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.permission]),
        )

    def _eventbridge(self, name: str, args: UploadCompletionArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        self.notification = aws.s3.BucketNotification(
            f"{name}-notification", aws.s3.BucketNotificationArgs(bucket=args.bucket_name, eventbridge=True),
            opts=child,
        )
        pattern = pulumi.Output.from_input(args.bucket_name).apply(key_pattern)
        self.rule = aws.cloudwatch.EventRule(
            f"{name}-rule", aws.cloudwatch.EventRuleArgs(event_pattern=pattern), opts=child
        )
        self.permission, _ = rule_target(name, self.rule, self.handler.function, self.dlq, args.account_id,
                                         ASYNC_RETRIES, args.max_event_age_seconds, self)
