"""The default ingest target, deployed when the stack is given no existing ingest function."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.lambda_function import LambdaFunction, LambdaFunctionArgs, statement
from handlers import contract, layout
from handlers.settings import IngestSettings

TYPE = "session-uploads:index:DefaultIngest"


@dataclass
class DefaultIngestArgs:
    bucket_name: pulumi.Input[str]
    """Where each ingest request is recorded, under the ingest-records prefix."""
    bucket_arn: pulumi.Input[str]
    """Its ARN: the function may PutObject under the ingest-records prefix only."""
    runtime: str
    """Lambda runtime."""
    layer_arn: pulumi.Input[str]
    """The stack's layer of third-party packages."""
    log_retention_days: int
    """Retention of the function's log group."""
    kms_key_arn: pulumi.Input[str] | None = None
    """The bucket's KMS key, when it has one (a PutObject generates a data key)."""


class DefaultIngest(pulumi.ComponentResource):
    handler: LambdaFunction
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: DefaultIngestArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        statements = [statement(
            ["s3:PutObject"],
            [pulumi.Output.from_input(args.bucket_arn).apply(
                lambda arn: layout.objects_arn(arn, layout.INGEST_RECORDS_PREFIX))],
            sid="IngestRecords",
        )]
        if args.kms_key_arn is not None:
            statements.append(statement(["kms:GenerateDataKey"], [args.kms_key_arn], sid="EncryptRecords"))
        self.handler = LambdaFunction(
            f"{name}-handler",
            LambdaFunctionArgs(
                handler="handlers.ingest.app.lambda_handler",
                service_name="session-uploads-ingest",
                runtime=args.runtime,
                layer_arn=args.layer_arn,
                log_retention_days=args.log_retention_days,
                statements=statements,
                environment=IngestSettings(bucket_name=args.bucket_name).environment(),
                timeout_seconds=contract.INGEST_FUNCTION_TIMEOUT_SECONDS,
                description="session-uploads default ingest target",
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = self.handler.arn
        self.register_outputs({"functionArn": self.arn})
