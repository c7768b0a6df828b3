"""The program, deployed to moto: `__main__.py` runs under Pulumi's mocks (offline/program.py, as the offline preview
does) with a backend that creates each resource it registers in moto server and answers with its real outputs.

So every name, ARN, environment variable, route, authorizer setting, notification filter, event pattern, table schema
and IAM policy the handlers meet locally is the program's own. What moto cannot be is recorded here for the local
stack to be (devstack/stack.py): the functions (moto runs no code without Docker), their async retries and on-failure
destinations, the HTTP API's routes and JWT authorizer. Three translations, each for a measured moto limit (DESIGN.md,
"What moto does not do"), never widening what the program grants:
- a Lambda target of S3 events (a bucket notification's function, an EventBridge rule's target) becomes the stack's
  delivery queue, with the program's own filters and pattern: the relay invokes the function the program named;
- the bucket policy is recorded, not applied: moto applies its Deny statements with their conditions ignored, so the
  TLS-only and SigV4-only Denys would refuse every request;
- role policies go through `devstack.iam.for_moto` (moto names `lambda:InvokeFunction` `lambda:Invoke`).
"""

from __future__ import annotations

import functools
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from pulumi.runtime import mocks

from devstack import iam
from handlers import contract
from offline.program import ProgramRun, ShapedOutputs, run_program

STACK = "dev"  # the stack file the local stack deploys
# Resource types the stack stands in for rather than creating in moto, and why.
STANDS_IN = {
    "aws:lambda/function:Function": "moto runs no Lambda code without Docker: devstack/runtime.py runs the handler",
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": "moto never retries nor dead-letters: "
    "devstack/runtime.py's AsyncInvoker does, with these retries and this destination",
    "aws:lambda/permission:Permission": "who may invoke a function: the local stack's own delivery invokes it",
    "aws:lambda/layerVersion:LayerVersion": "the handlers import the packages the tests installed (tests/layer checks "
    "the layer holds the same pins)",
    "aws:apigatewayv2/api:Api": "devstack/front.py is the HTTP API, with these CORS settings",
    "aws:apigatewayv2/stage:Stage": "devstack/front.py serves the $default stage",
    "aws:apigatewayv2/integration:Integration": "devstack/front.py invokes the integration's function",
    "aws:apigatewayv2/route:Route": "devstack/front.py answers exactly these routes",
    "aws:apigatewayv2/authorizer:Authorizer": "devstack/front.py checks JWTs of this issuer and audience",
    "aws:s3/bucketPolicy:BucketPolicy": "moto applies its Denys with their conditions ignored (refusing every request)",
    "aws:sfn/stateMachine:StateMachine": "no Step Functions locally: SessionReady on the bus stands for processing",
}


# (resource type, the program's name for it, its inputs) -> the inputs to create it with.
Edit = Callable[[str, str, dict], dict]


def _pascal(value: Any) -> Any:
    """Pulumi's camelCase inputs as the AWS APIs' PascalCase members; Pulumi's floats as integers where whole."""
    if isinstance(value, dict):
        return {(key[:1].upper() + key[1:]): _pascal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_pascal(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass(frozen=True)
class FunctionSpec:
    """A function as the program deploys it."""

    resource: str  # the program's name for it, e.g. `api-handler-function`
    name: str
    arn: str
    handler: str  # `handlers.api.app.lambda_handler`
    environment: dict[str, str]
    timeout_seconds: float
    memory_mb: int
    role_arn: str

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def role_name(self) -> str:
        return self.role_arn.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class AsyncConfig:
    retries: int
    on_failure: str | None  # a queue ARN


@dataclass
class Deployment:
    """What the program registered that the local stack must be, beside what now exists in moto."""

    run: ProgramRun | None = None
    functions: dict[str, FunctionSpec] = field(default_factory=dict)  # by function name
    async_configs: dict[str, AsyncConfig] = field(default_factory=dict)  # by function name
    policies: dict[str, dict] = field(default_factory=dict)  # the program's inline policy, by role name
    event_functions: set[str] = field(default_factory=set)  # ARNs of functions S3 events invoke (either transport)
    event_transport: contract.EventTransport | None = None
    schedules: dict[str, str] = field(default_factory=dict)  # schedule rule name -> function ARN
    routes: dict[str, str] = field(default_factory=dict)  # route key -> authorization type
    api_function: str | None = None  # the integration's function ARN
    api_cors: dict[str, Any] = field(default_factory=dict)
    jwt_issuer: str | None = None
    jwt_audiences: tuple[str, ...] = ()
    created: dict[str, dict[str, str]] = field(default_factory=dict)  # type -> {program's name: name in moto}

    @property
    def outputs(self) -> dict[str, Any]:
        return self.run.outputs if self.run else {}

    def function(self, name_or_arn: str) -> FunctionSpec:
        name = name_or_arn.split(":function:")[-1].split(":")[0]
        return self.functions[name]


def create_bucket(s3: Any, name: str, region: str) -> None:
    create: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":  # us-east-1 refuses a location constraint naming itself
        create["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**create)


def create_table(dynamodb: Any, name: str, inputs: dict) -> None:
    """A table as the program's `aws.dynamodb.Table` inputs describe it: keys, indexes, billing, TTL."""

    def key_schema(hash_key: str, range_key: str | None) -> list[dict]:
        return [{"AttributeName": hash_key, "KeyType": "HASH"},
                *([{"AttributeName": range_key, "KeyType": "RANGE"}] if range_key else [])]

    indexes = [
        {
            "IndexName": index["name"],
            "KeySchema": [{"AttributeName": k["attributeName"], "KeyType": k["keyType"]} for k in index["keySchemas"]],
            "Projection": {"ProjectionType": index["projectionType"],
                           **({"NonKeyAttributes": index["nonKeyAttributes"]} if index.get("nonKeyAttributes") else {})},
        }
        for index in inputs.get("globalSecondaryIndexes") or []
    ]
    dynamodb.create_table(
        TableName=name,
        KeySchema=key_schema(inputs["hashKey"], inputs.get("rangeKey")),
        AttributeDefinitions=[{"AttributeName": a["name"], "AttributeType": a["type"]} for a in inputs["attributes"]],
        BillingMode=inputs.get("billingMode", "PAY_PER_REQUEST"),
        **({"GlobalSecondaryIndexes": indexes} if indexes else {}),
    )
    ttl = inputs.get("ttl") or {}
    if ttl.get("enabled"):
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={
            "Enabled": True, "AttributeName": ttl["attributeName"]})


@functools.lru_cache(maxsize=1)
def _program_table() -> dict:
    return run_program(STACK).one("aws:dynamodb/table:Table").inputs


def create_sessions_table(dynamodb: Any, name: str) -> None:
    """The program's sessions table, under another name: for tests and benches on moto's in-process mocks."""
    create_table(dynamodb, name, _program_table())


class MotoBackend(ShapedOutputs):
    """Pulumi's mock monitor backend that creates each registered resource in moto (at `endpoint`, with `session`'s
    credentials) and answers with its outputs; S3 events meant for a function go to `delivery_queue_arn`."""

    def __init__(self, region: str, session: boto3.session.Session, endpoint: str, delivery_queue_arn: str,
                 edit: Edit | None = None):
        super().__init__(region, suffix=secrets.token_hex(4))
        self._edit = edit
        self._clients: dict[str, Any] = {}
        self._session = session
        self._endpoint = endpoint
        self._delivery_queue_arn = delivery_queue_arn
        self.deployment = Deployment()
        self._create: dict[str, Callable[[dict, dict], dict | None]] = {
            "aws:s3/bucket:Bucket": self._bucket,
            "aws:s3/bucketV2:BucketV2": self._bucket,
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": self._public_access_block,
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls": self._ownership,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": self._encryption,
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": self._lifecycle,
            "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration": self._cors,
            "aws:s3/bucketNotification:BucketNotification": self._notification,
            "aws:dynamodb/table:Table": self._table,
            "aws:sqs/queue:Queue": self._queue,
            "aws:sqs/queuePolicy:QueuePolicy": self._queue_policy,
            "aws:cloudwatch/eventBus:EventBus": self._event_bus,
            "aws:cloudwatch/eventRule:EventRule": self._event_rule,
            "aws:cloudwatch/eventTarget:EventTarget": self._event_target,
            "aws:iam/role:Role": self._role,
            "aws:iam/rolePolicy:RolePolicy": self._role_policy,
            "aws:cloudwatch/logGroup:LogGroup": self._log_group,
            "aws:sns/topic:Topic": self._topic,
            "aws:sns/topicSubscription:TopicSubscription": self._subscription,
            "aws:cloudwatch/metricAlarm:MetricAlarm": self._alarm,
            "aws:cognito/userPool:UserPool": self._user_pool,
            "aws:cognito/userPoolClient:UserPoolClient": self._user_pool_client,
            "aws:lambda/function:Function": self._function,
            "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": self._invoke_config,
            "aws:apigatewayv2/api:Api": self._api,
            "aws:apigatewayv2/integration:Integration": self._integration,
            "aws:apigatewayv2/route:Route": self._route,
            "aws:apigatewayv2/authorizer:Authorizer": self._authorizer,
        }

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(service, endpoint_url=self._endpoint)
        return self._clients[service]

    def new_resource(self, args: mocks.MockResourceArgs):
        if self._edit is not None:
            args.inputs = self._edit(args.typ, args.name, dict(args.inputs))
        resource_id, outputs = super().new_resource(args)
        if not args.typ.startswith("aws:"):  # the program's components, providers: nothing to create
            return resource_id, outputs
        create = self._create.get(args.typ)
        if create is None and args.typ not in STANDS_IN:
            raise NotImplementedError(f"the local stack cannot create {args.typ} ({args.name}): add it to "
                                      "devstack/deploy.py, or to STANDS_IN with the reason")
        outputs["__resource"] = args.name
        if create is not None:
            outputs |= create(dict(args.inputs), outputs) or {}
        name = outputs.pop("__resource")
        # What moto calls it, when not the resource's name (a queue policy: its queue); None: stood in for.
        in_moto = outputs.pop("__in_moto", outputs.get("bucket") or outputs.get("name"))
        if args.typ not in STANDS_IN and in_moto is not None:
            self.deployment.created.setdefault(args.typ, {})[name] = in_moto
        # A resource's id as AWS gives it (the bucket's, table's, role's, function's name; the queue's URL).
        resource_id = outputs.pop("id", None) or {
            "aws:sqs/queue:Queue": outputs.get("url"),
            "aws:s3/bucket:Bucket": outputs.get("bucket"),
            "aws:s3/bucketV2:BucketV2": outputs.get("bucket"),
        }.get(args.typ) or outputs.get("name") or resource_id
        return resource_id, outputs

    # -- S3 ----------------------------------------------------------------------------------------------------

    def _bucket(self, inputs: dict, outputs: dict) -> None:
        create_bucket(self._client("s3"), outputs["bucket"], self.region)

    def _public_access_block(self, inputs: dict, outputs: dict) -> None:
        config = _pascal({k: v for k, v in inputs.items() if k != "bucket"})
        self._client("s3").put_public_access_block(Bucket=inputs["bucket"], PublicAccessBlockConfiguration=config)

    def _ownership(self, inputs: dict, outputs: dict) -> None:
        self._client("s3").put_bucket_ownership_controls(
            Bucket=inputs["bucket"], OwnershipControls={"Rules": [_pascal(inputs["rule"])]})

    def _encryption(self, inputs: dict, outputs: dict) -> None:
        rules = _pascal(inputs["rules"])
        for rule in rules:
            default = rule.get("ApplyServerSideEncryptionByDefault", {})
            if "KmsMasterKeyId" in default:
                default["KMSMasterKeyID"] = default.pop("KmsMasterKeyId")
            default["SSEAlgorithm"] = default.pop("SseAlgorithm")
        self._client("s3").put_bucket_encryption(
            Bucket=inputs["bucket"], ServerSideEncryptionConfiguration={"Rules": rules})

    def _lifecycle(self, inputs: dict, outputs: dict) -> None:
        rules = _pascal(inputs["rules"])
        for rule in rules:
            rule["ID"] = rule.pop("Id")
        self._client("s3").put_bucket_lifecycle_configuration(
            Bucket=inputs["bucket"], LifecycleConfiguration={"Rules": rules})

    def _cors(self, inputs: dict, outputs: dict) -> None:
        self._client("s3").put_bucket_cors(
            Bucket=inputs["bucket"], CORSConfiguration={"CORSRules": _pascal(inputs["corsRules"])})

    def _notification(self, inputs: dict, outputs: dict) -> None:
        config: dict[str, Any] = {}
        if inputs.get("eventbridge"):
            config["EventBridgeConfiguration"] = {}
            self.deployment.event_transport = contract.EventTransport.EVENTBRIDGE
        functions = inputs.get("lambdaFunctions") or []
        if functions:
            self.deployment.event_transport = contract.EventTransport.NOTIFICATION
            self.deployment.event_functions |= {f["lambdaFunctionArn"] for f in functions}
            config["QueueConfigurations"] = [
                {
                    "QueueArn": self._delivery_queue_arn,
                    "Events": f["events"],
                    "Filter": {"Key": {"FilterRules": [
                        {"Name": name, "Value": f[key]}
                        for name, key in (("prefix", "filterPrefix"), ("suffix", "filterSuffix")) if f.get(key)
                    ]}},
                }
                for f in functions
            ]
        self._client("s3").put_bucket_notification_configuration(
            Bucket=inputs["bucket"], NotificationConfiguration=config)

    # -- DynamoDB, SQS, EventBridge ----------------------------------------------------------------------------

    def _table(self, inputs: dict, outputs: dict) -> None:
        create_table(self._client("dynamodb"), outputs["name"], inputs)

    def _queue(self, inputs: dict, outputs: dict) -> dict:
        attributes = {name: str(int(inputs[key])) for key, name in (
            ("messageRetentionSeconds", "MessageRetentionPeriod"), ("visibilityTimeoutSeconds", "VisibilityTimeout"),
        ) if key in inputs}
        url = self._client("sqs").create_queue(QueueName=outputs["name"], Attributes=attributes)["QueueUrl"]
        return {"url": url}

    def _queue_policy(self, inputs: dict, outputs: dict) -> dict:
        self._client("sqs").set_queue_attributes(QueueUrl=inputs["queueUrl"], Attributes={"Policy": inputs["policy"]})
        return {"__in_moto": inputs["queueUrl"].rsplit("/", 1)[-1]}

    def _event_bus(self, inputs: dict, outputs: dict) -> dict:
        return {"arn": self._client("events").create_event_bus(Name=outputs["name"])["EventBusArn"]}

    def _event_rule(self, inputs: dict, outputs: dict) -> dict:
        rule = {"Name": outputs["name"], "EventBusName": inputs.get("eventBusName", "default")}
        for key, member in (("eventPattern", "EventPattern"), ("scheduleExpression", "ScheduleExpression"),
                            ("description", "Description")):
            if key in inputs:
                rule[member] = inputs[key]
        return {"arn": self._client("events").put_rule(**rule)["RuleArn"]}

    def _event_target(self, inputs: dict, outputs: dict) -> dict | None:
        arn, rule, bus = inputs["arn"], inputs["rule"], inputs.get("eventBusName", "default")
        if ":lambda:" not in arn:
            self._client("events").put_targets(Rule=rule, EventBusName=bus, Targets=[_pascal(
                {k: v for k, v in inputs.items() if k not in ("rule", "eventBusName")} | {"id": outputs["name"]})])
            return
        described = self._client("events").describe_rule(Name=rule, EventBusName=bus)
        if "ScheduleExpression" in described:  # the local stack's scheduler: DevStack.sweep()
            self.deployment.schedules[rule] = arn
            return {"__in_moto": None}
        # S3's events for a function: to the delivery queue, matched by the program's own pattern.
        self.deployment.event_functions.add(arn)
        self._client("events").put_targets(Rule=rule, EventBusName=bus, Targets=[
            {"Id": outputs["name"], "Arn": self._delivery_queue_arn}])

    # -- IAM, logs, alarms, identity ---------------------------------------------------------------------------

    def _role(self, inputs: dict, outputs: dict) -> dict:
        role = self._client("iam").create_role(RoleName=outputs["name"], AssumeRolePolicyDocument=inputs["assumeRolePolicy"])
        return {"arn": role["Role"]["Arn"], "uniqueId": role["Role"]["RoleId"]}

    def _role_policy(self, inputs: dict, outputs: dict) -> None:
        policy = json.loads(inputs["policy"])
        self.deployment.policies[inputs["role"]] = policy
        self._client("iam").put_role_policy(RoleName=inputs["role"], PolicyName=outputs["name"],
                                            PolicyDocument=json.dumps(iam.for_moto(policy)))

    def _log_group(self, inputs: dict, outputs: dict) -> None:
        logs = self._client("logs")
        logs.create_log_group(logGroupName=outputs["name"])
        if "retentionInDays" in inputs:
            logs.put_retention_policy(logGroupName=outputs["name"], retentionInDays=int(inputs["retentionInDays"]))

    def _topic(self, inputs: dict, outputs: dict) -> dict:
        return {"arn": self._client("sns").create_topic(Name=outputs["name"])["TopicArn"]}

    def _subscription(self, inputs: dict, outputs: dict) -> dict:
        arn = self._client("sns").subscribe(TopicArn=inputs["topic"], Protocol=inputs["protocol"],
                                            Endpoint=inputs["endpoint"])["SubscriptionArn"]
        return {"arn": arn, "__in_moto": f"{inputs['protocol']}:{inputs['endpoint']}"}

    def _alarm(self, inputs: dict, outputs: dict) -> None:
        alarm = _pascal({k: v for k, v in inputs.items() if k not in ("dimensions", "okActions", "threshold")})
        alarm["Dimensions"] = [{"Name": k, "Value": v} for k, v in (inputs.get("dimensions") or {}).items()]
        alarm["OKActions"] = inputs.get("okActions", [])
        alarm["Threshold"] = float(inputs["threshold"])
        self._client("cloudwatch").put_metric_alarm(AlarmName=outputs["name"], **alarm)

    def _user_pool(self, inputs: dict, outputs: dict) -> dict:
        pool = self._client("cognito-idp").create_user_pool(PoolName=outputs["name"])["UserPool"]
        return {"id": pool["Id"], "arn": pool["Arn"], "endpoint": f"cognito-idp.{self.region}.amazonaws.com/{pool['Id']}"}

    def _user_pool_client(self, inputs: dict, outputs: dict) -> dict:
        client = self._client("cognito-idp").create_user_pool_client(
            UserPoolId=inputs["userPoolId"], ClientName=outputs["name"])["UserPoolClient"]
        return {"id": client["ClientId"]}

    # -- what the stack stands in for: recorded ----------------------------------------------------------------

    def _function(self, inputs: dict, outputs: dict) -> None:
        spec = FunctionSpec(
            resource=outputs["__resource"],
            name=outputs["name"],
            arn=outputs["arn"],
            handler=inputs["handler"],
            environment=dict((inputs.get("environment") or {}).get("variables") or {}),
            timeout_seconds=float(inputs.get("timeout", 3)),
            memory_mb=int(inputs.get("memorySize", 128)),
            role_arn=inputs["role"],
        )
        self.deployment.functions[spec.name] = spec

    def _invoke_config(self, inputs: dict, outputs: dict) -> None:
        destination = ((inputs.get("destinationConfig") or {}).get("onFailure") or {}).get("destination")
        self.deployment.async_configs[inputs["functionName"]] = AsyncConfig(
            retries=int(inputs.get("maximumRetryAttempts", 2)), on_failure=destination)

    def _api(self, inputs: dict, outputs: dict) -> None:
        self.deployment.api_cors = dict(inputs.get("corsConfiguration") or {})

    def _integration(self, inputs: dict, outputs: dict) -> None:
        match = re.search(r"functions/(arn:[^/]+)/invocations", inputs["integrationUri"])
        self.deployment.api_function = match.group(1) if match else inputs["integrationUri"]

    def _route(self, inputs: dict, outputs: dict) -> None:
        self.deployment.routes[inputs["routeKey"]] = inputs.get("authorizationType", "NONE")

    def _authorizer(self, inputs: dict, outputs: dict) -> None:
        jwt = inputs.get("jwtConfiguration") or {}
        self.deployment.jwt_issuer = jwt.get("issuer")
        self.deployment.jwt_audiences = tuple(jwt.get("audiences") or ())


def deploy(stack: str, config: dict[str, str], session: boto3.session.Session, endpoint: str,
           delivery_queue_arn: str, edit: Edit | None = None) -> Deployment:
    """Run the program for `stack` with `config` over its stack file, creating its resources in moto. `edit` may
    change a resource's inputs before it is created (a test's doctored program: a statement taken out, say)."""
    backends: list[MotoBackend] = []

    def backend(region: str) -> MotoBackend:
        backends.append(MotoBackend(region, session, endpoint, delivery_queue_arn, edit))
        return backends[-1]

    run = run_program(stack, config, backend=backend)
    deployment = backends[0].deployment
    deployment.run = run
    return deployment
