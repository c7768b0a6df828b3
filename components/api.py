"""The HTTP API: JWT authorizer, the contract's routes to the API Lambda, a throttled stage with access logs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import yaml

from components.lambda_function import LambdaFunction, LambdaFunctionArgs, statement
from components.processing import ProcessingTarget
from handlers import contract, cors, layout
from handlers.settings import ApiSettings

TYPE = "session-uploads:index:Api"
# The routes handlers/api/app.py serves, read from the OpenAPI document rendered from its resolver
# (tests/handlers/test_openapi.py keeps the two identical), so a new route is deployed without being re-typed here.
OPENAPI_DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"
ROUTES = tuple(
    f"{method.upper()} {path}"
    for path, operations in yaml.safe_load(OPENAPI_DOCUMENT.read_text())["paths"].items()
    for method in operations
)
_ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "time": "$context.requestTime",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "latency": "$context.responseLatency",
        "integrationError": "$context.integrationErrorMessage",
        "authorizerError": "$context.authorizer.error",
        "sub": "$context.authorizer.claims.sub",
    }
)


@dataclass
class ApiArgs:
    bucket_name: pulumi.Input[str]
    """The session bucket the grants presign for."""
    bucket_arn: pulumi.Input[str]
    """Its ARN: the API may PutObject under the sessions prefix only (a presigned URL acts as its signer)."""
    table_name: pulumi.Input[str]
    """The sessions table."""
    table_arn: pulumi.Input[str]
    """Its ARN: the API gets, puts and updates items (finalize, ready, processing claims)."""
    processing: ProcessingTarget
    """Where SessionReady goes when complete finds every window recorded."""
    runtime: str
    """Lambda runtime."""
    layer_arn: pulumi.Input[str]
    """The stack's layer of third-party packages."""
    log_retention_days: int
    """Retention of the function's and the stage's log groups."""
    url_expires_seconds: int
    """Lifetime of a presigned PUT."""
    max_audio_bytes: int
    """Largest audio half a grant allows."""
    max_frames_bytes: int
    """Largest frames bundle a grant allows."""
    retention_days: int
    """Session rows' TTL."""
    throttling_rate_limit: float
    """Steady requests per second across the stage's routes."""
    throttling_burst_limit: int
    """Burst across the stage's routes."""
    account_id: pulumi.Input[str]
    """The API's account: the invoke permission's source account."""
    jwt_issuer: pulumi.Input[str] | None = None
    """The IdP's issuer URL (an external IdP's, or the stack's own user pool's); None only with
    allow_unauthenticated."""
    jwt_audience: Sequence[pulumi.Input[str]] = ()
    """Accepted `aud` (or, for tokens without `aud`, `client_id`) values."""
    allow_unauthenticated: bool = False
    """Explicit opt-out: routes without an authorizer."""
    cors_allowed_origins: Sequence[str] = ()
    """Browser origins allowed to call the API."""
    kms_key_arn: pulumi.Input[str] | None = None
    """The bucket's KMS key, when it has one: a PUT through a grant generates a data key as the signer."""
    snap_start: bool = False
    """The API function on Lambda SnapStart, its routes invoking the published version's alias (stack config
    apiSnapStart; what it costs: README)."""


class Api(pulumi.ComponentResource):
    api: aws.apigatewayv2.Api
    stage: aws.apigatewayv2.Stage
    handler: LambdaFunction
    url: pulumi.Output[str]

    def __init__(self, name: str, args: ApiArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        if args.jwt_issuer is None and not args.allow_unauthenticated:
            raise ValueError("an API without a JWT issuer must set allow_unauthenticated explicitly")
        self.handler = self._create_handler(name, args)
        self.api = self._create_http_api(name, args)
        self._create_routes(name, args)
        self.stage = self._create_stage(name, args)
        self._allow_invoke(name, args)
        self.url = self.api.api_endpoint
        self.register_outputs({"url": self.url})

    def _create_handler(self, name: str, args: ApiArgs) -> LambdaFunction:
        """The API function, with what its routes call: the table, presigning under the sessions prefix, the
        processing trigger, and the bucket's key when it has one."""
        statements = [
            # Query: the status, the windows page and complete read a session's window items (one partition);
            # BatchGetItem: a grant reads the session's header and the window's item in one request.
            statement(["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query",
                       "dynamodb:UpdateItem"],
                      [args.table_arn], sid="Sessions"),
            statement(
                ["s3:PutObject"],
                [
                    pulumi.Output.from_input(args.bucket_arn).apply(
                        lambda arn: layout.objects_arn(arn, layout.SESSIONS_PREFIX)
                    )
                ],
                sid="GrantUploads",
            ),
            *args.processing.statements(),
        ]
        if args.kms_key_arn is not None:
            statements.append(statement(["kms:GenerateDataKey"], [args.kms_key_arn], sid="EncryptUploads"))
        return LambdaFunction(
            f"{name}-handler",
            LambdaFunctionArgs(
                handler="handlers.api.app.lambda_handler",
                service_name="session-uploads-api",
                runtime=args.runtime,
                layer_arn=args.layer_arn,
                log_retention_days=args.log_retention_days,
                statements=statements,
                environment=ApiSettings(
                    bucket_name=args.bucket_name,
                    table_name=args.table_name,
                    url_expires_seconds=args.url_expires_seconds,
                    max_audio_bytes=args.max_audio_bytes,
                    max_frames_bytes=args.max_frames_bytes,
                    retention_days=args.retention_days,
                    processing=args.processing.settings(),
                ).environment(),
                timeout_seconds=contract.API_FUNCTION_TIMEOUT_SECONDS,
                memory_mb=512,  # pydantic validation and the resolver import faster with more CPU
                description="session-uploads HTTP API",
                snap_start=args.snap_start,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_http_api(self, name: str, args: ApiArgs) -> aws.apigatewayv2.Api:
        """The HTTP API, answering the allowed browser origins' preflights itself."""
        browsers = None
        if args.cors_allowed_origins:
            browsers = aws.apigatewayv2.ApiCorsConfigurationArgs(
                allow_origins=list(args.cors_allowed_origins),
                allow_methods=list(cors.API_ALLOWED_METHODS),
                allow_headers=list(cors.API_ALLOWED_HEADERS),
                max_age=cors.API_MAX_AGE_SECONDS,
            )
        return aws.apigatewayv2.Api(
            f"{name}-http-api", aws.apigatewayv2.ApiArgs(protocol_type="HTTP", cors_configuration=browsers),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_routes(self, name: str, args: ApiArgs) -> None:
        """Every route of the contract to the function, each behind the JWT authorizer unless the stack opted out."""
        child = pulumi.ResourceOptions(parent=self)
        integration = aws.apigatewayv2.Integration(
            f"{name}-integration",
            aws.apigatewayv2.IntegrationArgs(
                api_id=self.api.id,
                integration_type="AWS_PROXY",
                integration_uri=self.handler.invoke_arn,  # with SnapStart, the alias: $LATEST is never restored
                payload_format_version="2.0",
            ),
            opts=child,
        )
        authorizer = None
        if not args.allow_unauthenticated:
            authorizer = aws.apigatewayv2.Authorizer(
                f"{name}-jwt-authorizer",
                aws.apigatewayv2.AuthorizerArgs(
                    api_id=self.api.id,
                    authorizer_type="JWT",
                    identity_sources=["$request.header.Authorization"],
                    jwt_configuration=aws.apigatewayv2.AuthorizerJwtConfigurationArgs(
                        issuer=args.jwt_issuer, audiences=list(args.jwt_audience)
                    ),
                ),
                opts=child,
            )
        for route_key in ROUTES:
            aws.apigatewayv2.Route(
                f"{name}-route-{self._slug(route_key)}",
                aws.apigatewayv2.RouteArgs(
                    api_id=self.api.id,
                    route_key=route_key,
                    target=integration.id.apply(lambda integration_id: f"integrations/{integration_id}"),
                    authorization_type="JWT" if authorizer else "NONE",
                    authorizer_id=authorizer.id if authorizer else None,
                ),
                opts=child,
            )

    def _create_stage(self, name: str, args: ApiArgs) -> aws.apigatewayv2.Stage:
        """The default stage: deployed on every change, throttled, its access logs in a log group of its own."""
        child = pulumi.ResourceOptions(parent=self)
        access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs", aws.cloudwatch.LogGroupArgs(retention_in_days=args.log_retention_days), opts=child
        )
        return aws.apigatewayv2.Stage(
            f"{name}-stage",
            aws.apigatewayv2.StageArgs(
                api_id=self.api.id,
                name="$default",
                auto_deploy=True,
                access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
                    destination_arn=access_logs.arn, format=_ACCESS_LOG_FORMAT
                ),
                default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(
                    throttling_rate_limit=args.throttling_rate_limit,
                    throttling_burst_limit=args.throttling_burst_limit,
                    detailed_metrics_enabled=True,
                ),
            ),
            opts=child,
        )

    def _allow_invoke(self, name: str, args: ApiArgs) -> None:
        """This API's routes, and nothing else, may invoke the function."""
        aws.lambda_.Permission(
            f"{name}-invoke-permission",
            aws.lambda_.PermissionArgs(
                action="lambda:InvokeFunction",
                function=self.handler.function.name,
                qualifier=self.handler.qualifier,  # a permission holds for the one alias (or $LATEST) it names
                principal="apigateway.amazonaws.com",
                # Only this API's routes, on any stage: {executionArn}/{stage}/{method}/{path}.
                source_arn=self.api.execution_arn.apply(lambda arn: f"{arn}/*/*"),
                source_account=args.account_id,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    @staticmethod
    def _slug(route_key: str) -> str:
        method, path = route_key.split(" ", 1)
        parts = [p.strip("{}") for p in path.strip("/").split("/")]
        return "-".join([method.lower(), *parts])
