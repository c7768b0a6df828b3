"""One Lambda with everything it owns: role, one inline policy, log group, tracing, code; on the stack's own layer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.code import code_archive

TYPE = "session-uploads:index:LambdaFunction"


def statement(actions: Sequence[str], resources: Sequence[pulumi.Input[str]], sid: str | None = None,
              conditions: Sequence[aws.iam.GetPolicyDocumentStatementConditionArgs] = ()
              ) -> aws.iam.GetPolicyDocumentStatementArgs:
    return aws.iam.GetPolicyDocumentStatementArgs(sid=sid, effect="Allow", actions=list(actions),
                                                 resources=list(resources), conditions=list(conditions) or None)


def condition(test: str, variable: str, values: Sequence[str]) -> aws.iam.GetPolicyDocumentStatementConditionArgs:
    return aws.iam.GetPolicyDocumentStatementConditionArgs(test=test, variable=variable, values=list(values))


@dataclass
class LambdaFunctionArgs:
    handler: str
    """Entry point inside the archive, e.g. `handlers.api.app.lambda_handler`."""
    service_name: str
    """POWERTOOLS_SERVICE_NAME: names the function's logs, metrics dimension and traces."""
    runtime: str
    """The runtime the layer is built for (layer.RUNTIME)."""
    layer_arn: pulumi.Input[str]
    """The stack's layer version (components/function_layer.py): every third-party package the code imports."""
    log_retention_days: int
    """Retention of the function's own log group."""
    statements: Sequence[aws.iam.GetPolicyDocumentStatementArgs]
    """Exactly the calls the code makes, on exact ARNs; logging and tracing are added here."""
    timeout_seconds: int
    """Function timeout: one of handlers/contract.py's *_FUNCTION_TIMEOUT_SECONDS."""
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Environment variables besides POWERTOOLS_SERVICE_NAME."""
    memory_mb: int = 256
    """Function memory."""
    description: str | None = None
    """Shown in the console."""
    snap_start: bool = False
    """Lambda SnapStart: each published version's initialized environment is snapshotted, and a cold start of that
    version is restored from the snapshot instead of importing and building everything again (python3.12 and later;
    billed per cached snapshot and per restore, see README). SnapStart never applies to $LATEST, so the function then
    publishes a version on every change and gets the `live` alias on it, which its invokers must target (`invoke_arn`
    and `qualifier` below)."""


SNAP_START_ALIAS = "live"


class LambdaFunction(pulumi.ComponentResource):
    function: aws.lambda_.Function
    role: aws.iam.Role
    log_group: aws.cloudwatch.LogGroup
    alias: aws.lambda_.Alias | None
    service_name: str
    arn: pulumi.Output[str]
    name: pulumi.Output[str]
    invoke_arn: pulumi.Output[str]
    """What an API Gateway integration invokes: the SnapStart alias when there is one, else the function."""
    qualifier: pulumi.Output[str] | None
    """The alias an invoke permission must name (None: the unqualified function)."""

    def __init__(self, name: str, args: LambdaFunctionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", aws.cloudwatch.LogGroupArgs(retention_in_days=args.log_retention_days), opts=child
        )
        assume = aws.iam.get_policy_document_output(statements=[aws.iam.GetPolicyDocumentStatementArgs(
            effect="Allow",
            actions=["sts:AssumeRole"],
            principals=[aws.iam.GetPolicyDocumentStatementPrincipalArgs(type="Service",
                                                                        identifiers=["lambda.amazonaws.com"])],
        )])
        self.role = aws.iam.Role(f"{name}-role", aws.iam.RoleArgs(assume_role_policy=assume.json), opts=child)
        policy = aws.iam.get_policy_document_output(statements=[
            *args.statements,
            # The function writes only to its own log group (it exists, so no logs:CreateLogGroup).
            statement(["logs:CreateLogStream", "logs:PutLogEvents"],
                      [self.log_group.arn.apply(lambda arn: f"{arn}:*")], sid="Logs"),
            # X-Ray's write actions support no resource-level permissions: "*" is the only valid resource.
            statement(["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"], sid="Tracing"),
        ])
        role_policy = aws.iam.RolePolicy(
            f"{name}-policy", aws.iam.RolePolicyArgs(role=self.role.id, policy=policy.json), opts=child
        )
        self.function = aws.lambda_.Function(
            f"{name}-function",
            aws.lambda_.FunctionArgs(
                role=self.role.arn,
                runtime=args.runtime,
                handler=args.handler,
                code=code_archive(),
                layers=[args.layer_arn],
                architectures=["x86_64"],  # the layer's compiled extensions' (layer.ARCHITECTURE)
                timeout=args.timeout_seconds,
                memory_size=args.memory_mb,
                description=args.description,
                tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
                logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text",
                                                                     log_group=self.log_group.name),
                environment=aws.lambda_.FunctionEnvironmentArgs(
                    variables={"POWERTOOLS_SERVICE_NAME": args.service_name, **args.environment}
                ),
                publish=True if args.snap_start else None,  # off: the inputs a stack without it always had
                snap_start=aws.lambda_.FunctionSnapStartArgs(apply_on="PublishedVersions") if args.snap_start else None,
            ),
            # The first invocation must already find the policy in place.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )
        self.service_name = args.service_name  # the `service` dimension of the function's Powertools metrics
        self.arn = self.function.arn
        self.name = self.function.name
        self.alias, self.invoke_arn, self.qualifier = None, self.function.invoke_arn, None
        if args.snap_start:
            # The version each change publishes (its snapshot taken then), behind a name the invokers keep.
            self.alias = aws.lambda_.Alias(
                f"{name}-{SNAP_START_ALIAS}",
                aws.lambda_.AliasArgs(
                    name=SNAP_START_ALIAS, function_name=self.function.name, function_version=self.function.version
                ),
                opts=child,
            )
            self.invoke_arn, self.qualifier = self.alias.invoke_arn, self.alias.name
        self.register_outputs({"arn": self.arn, "name": self.name, "roleArn": self.role.arn})
