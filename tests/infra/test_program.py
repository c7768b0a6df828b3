"""The whole program under mocks: wiring, least privilege, both transports, both ingest modes, prod settings."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest

import layer
from components import code
from components.api import ROUTES
from handlers import contract, cors, layout
from handlers.settings import ApiSettings, CompletionSettings, IngestSettings, ProcessingSettings, SweeperSettings
from offline.program import ACCOUNT_ID, PROJECT_DIR, run_program
from stack_config import ConfigError
from tests.infra.conftest import FUNCTION, archive_files, as_list, function, statements

NOTIFICATION = "aws:s3/bucketNotification:BucketNotification"
PERMISSION = "aws:lambda/permission:Permission"
BUCKET = "aws:s3/bucket:Bucket"
TABLE = "aws:dynamodb/table:Table"
QUEUE = "aws:sqs/queue:Queue"
COMPONENT_PREFIX = "session-uploads:index:"
COMPLETION_DLQ = "upload-completion-dlq"
DEV_BUS_ARN = f"arn:aws:events:eu-west-1:{ACCOUNT_ID}:event-bus/session-uploads-dev"


def arn_of(run, type_token, name=None):
    """The ARN the mock gave a resource, as other resources received it."""
    resource = run.one(type_token, name)
    return {
        BUCKET: f"arn:aws:s3:::{resource.name}-mock",
        TABLE: f"arn:aws:dynamodb:eu-west-1:{ACCOUNT_ID}:table/{resource.name}-mock",
        QUEUE: f"arn:aws:sqs:eu-west-1:{ACCOUNT_ID}:{resource.name}-mock",
        FUNCTION: f"arn:aws:lambda:eu-west-1:{ACCOUNT_ID}:function:{resource.name}-mock",
    }[type_token]


# --- direct S3 notification (dev) -------------------------------------------------------------------------------

SESSION = "0b7f1f36-3d4e-4a59-9c2e-5b8f2f1d2c3a"
# Keys the completion path must never hear of: written by the stack itself, outside the session prefix.
NOT_WINDOWS = [layout.ingest_record_key(SESSION, 12, "req"),
               *(layout.quarantine_key(layout.object_key(SESSION, 12, media), "etag") for media in layout.Media)]


def test_the_notification_filters_are_the_key_layout_one_per_half(dev):
    notification = dev.one(NOTIFICATION)
    assert notification.inputs["bucket"] == dev.outputs["bucketName"]
    targets = notification.inputs["lambdaFunctions"]
    assert sorted((t["filterPrefix"], t["filterSuffix"]) for t in targets) == sorted(
        [(layout.SESSIONS_PREFIX, layout.AUDIO_SUFFIX), (layout.SESSIONS_PREFIX, layout.FRAMES_SUFFIX)])
    for target in targets:
        assert target["events"] == ["s3:ObjectCreated:*"]
        assert target["lambdaFunctionArn"] == arn_of(dev, FUNCTION, "upload-completion-handler-function")

    def notified(key):
        return [t for t in targets if key.startswith(t["filterPrefix"]) and key.endswith(t["filterSuffix"])]

    for media in layout.Media:  # every half's key fires exactly one configuration
        assert len(notified(layout.object_key(SESSION, 12, media))) == 1, media
    for key in NOT_WINDOWS:
        assert notified(key) == [], key


def test_the_notification_depends_on_the_permission(dev):
    permission = dev.one(PERMISSION, "upload-completion-s3-permission")
    assert permission.urn in dev.one(NOTIFICATION).dependencies


def test_only_this_bucket_in_this_account_may_invoke_completion(dev):
    permission = dev.one(PERMISSION, "upload-completion-s3-permission").inputs
    assert permission["principal"] == "s3.amazonaws.com"
    assert permission["action"] == "lambda:InvokeFunction"
    assert permission["sourceArn"] == arn_of(dev, BUCKET)
    assert permission["sourceAccount"] == ACCOUNT_ID
    assert permission["function"] == f"{function(dev, 'upload-completion').name}-mock"


def test_failed_completion_events_are_retried_twice_then_land_in_the_encrypted_dlq(dev):
    config = dev.one("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
                     "upload-completion-invoke-config").inputs
    assert config["functionName"] == f"{function(dev, 'upload-completion').name}-mock"
    assert config["maximumRetryAttempts"] == 2
    assert config["maximumEventAgeInSeconds"] == 3600
    assert config["destinationConfig"]["onFailure"]["destination"] == arn_of(dev, QUEUE, COMPLETION_DLQ)
    dlq = dev.one(QUEUE, COMPLETION_DLQ).inputs
    assert dlq["messageRetentionSeconds"] == 14 * 24 * 3600
    assert dlq["sqsManagedSseEnabled"] is True


# --- least privilege ----------------------------------------------------------------------------------------------

def _grants(run, component):
    """(sorted actions, sorted resources) of every statement but the logging and tracing ones."""
    found = statements(run, component)
    assert all(s["Effect"] == "Allow" for s in found.values())
    logs, tracing = found.pop("Logs"), found.pop("Tracing")
    log_group = run.one("aws:cloudwatch/logGroup:LogGroup", f"{component}-handler-logs")
    assert as_list(logs["Resource"]) == [f"arn:aws:logs:eu-west-1:{ACCOUNT_ID}:log-group:{log_group.name}-mock:*"]
    assert as_list(logs["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert as_list(tracing["Action"]) == ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    assert tracing["Resource"] == "*"  # the only "*": X-Ray's write actions have no resource-level permissions
    return {sid: (as_list(s["Action"]), as_list(s["Resource"])) for sid, s in found.items()}


def test_the_api_role_reads_and_writes_sessions_puts_only_under_the_sessions_prefix_and_on_the_one_bus(dev):
    assert _grants(dev, "api") == {
        "Sessions": (
            ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"],
            [arn_of(dev, TABLE)],
        ),
        "GrantUploads": (["s3:PutObject"], [layout.objects_arn(arn_of(dev, BUCKET), layout.SESSIONS_PREFIX)]),
        "ProcessingEvents": (["events:PutEvents"], [DEV_BUS_ARN]),
    }


def test_the_completion_role_reads_uploads_quarantines_and_invokes_only_the_ingest_target(dev):
    bucket = arn_of(dev, BUCKET)
    assert _grants(dev, "upload-completion") == {
        "Sessions": (["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                     [arn_of(dev, TABLE)]),
        # On the sessions prefix only (its condition: tests/infra/test_completeness.py): a HeadObject of a half already
        # quarantined is then S3's 404, which the completion path skips, not a 403 that would retry into the DLQ.
        "ListSessions": (["s3:ListBucket"], [bucket]),
        "ReadUploads": (["s3:DeleteObject", "s3:GetObject"], [layout.objects_arn(bucket, layout.SESSIONS_PREFIX)]),
        "Quarantine": (["s3:PutObject"], [layout.objects_arn(bucket, layout.QUARANTINE_PREFIX)]),
        "Ingest": (["lambda:InvokeFunction"], [arn_of(dev, FUNCTION, "ingest-handler-function")]),
        "ProcessingEvents": (["events:PutEvents"], [DEV_BUS_ARN]),
        "DeadLetters": (["sqs:SendMessage"], [arn_of(dev, QUEUE, COMPLETION_DLQ)]),
    }


def test_the_ingest_role_puts_only_under_the_ingest_records_prefix(dev):
    assert _grants(dev, "ingest") == {
        "IngestRecords": (["s3:PutObject"], [layout.objects_arn(arn_of(dev, BUCKET), layout.INGEST_RECORDS_PREFIX)]),
    }


def test_with_a_kms_key_the_api_may_generate_data_keys_for_it_only(dev, prod):
    key = prod.config["session-uploads:kmsKeyArn"]
    assert _grants(prod, "api")["EncryptUploads"] == (["kms:GenerateDataKey"], [key])
    assert "EncryptUploads" not in _grants(dev, "api")


def test_with_a_kms_key_completion_may_decrypt_halves_and_encrypt_their_quarantine_copies_with_it_only(dev, prod):
    key = prod.config["session-uploads:kmsKeyArn"]
    assert _grants(prod, "upload-completion")["BucketKey"] == (["kms:Decrypt", "kms:GenerateDataKey"], [key])
    assert "BucketKey" not in _grants(dev, "upload-completion")


def test_each_function_has_its_own_role(dev, prod):
    for run in (dev, prod):
        roles = [f.inputs["role"] for f in run.of_type(FUNCTION)]
        assert len(roles) == len(set(roles))


# --- every Lambda ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("component", "settings"),
    [("api", ApiSettings), ("upload-completion", CompletionSettings), ("ingest", IngestSettings),
     ("sweeper", SweeperSettings)],
)
def test_each_function_environment_is_what_its_handler_settings_read(dev, component, settings):
    variables = function(dev, component).inputs["environment"]["variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"].startswith("session-uploads-")
    parsed = settings.from_env(variables)  # raises if a required variable is missing or malformed
    # The stack's own bus (the handlers have no fallback: a missing bus fails their settings).
    processing = ProcessingSettings(event_bus_name=dev.outputs["processingEventBusName"], state_machine_arn=None,
                                    claim_lease_seconds=contract.DEFAULT_INGEST_CLAIM_LEASE_SECONDS)
    if settings is ApiSettings:
        assert parsed == ApiSettings(
            bucket_name=dev.outputs["bucketName"], table_name=dev.outputs["tableName"],
            url_expires_seconds=contract.DEFAULT_URL_EXPIRES_SECONDS,
            max_audio_bytes=contract.DEFAULT_MAX_AUDIO_BYTES, max_frames_bytes=contract.DEFAULT_MAX_FRAMES_BYTES,
            retention_days=7, processing=processing)
    if settings is SweeperSettings:
        assert parsed == SweeperSettings(bucket_name=dev.outputs["bucketName"], table_name=dev.outputs["tableName"],
                                         ingest_function_name=arn_of(dev, FUNCTION, "ingest-handler-function"),
                                         finalizing_timeout_seconds=15 * 60, processing=processing)
    if settings is CompletionSettings:
        assert parsed.processing == processing
        assert parsed.ingest_function_name == arn_of(dev, FUNCTION, "ingest-handler-function")
        assert parsed.claim_lease_seconds == contract.DEFAULT_INGEST_CLAIM_LEASE_SECONDS
        assert function(dev, component).inputs["timeout"] == contract.COMPLETION_FUNCTION_TIMEOUT_SECONDS


def test_every_function_is_traced_logged_layered_and_ships_handlers_only(dev):
    layer = f"arn:aws:lambda:eu-west-1:{ACCOUNT_ID}:layer:session-uploads-dev-packages:1"  # the stack's own
    functions = dev.of_type(FUNCTION)
    assert {f.inputs["handler"] for f in functions} == {
        "handlers.api.app.lambda_handler",
        "handlers.upload_complete.app.lambda_handler",
        "handlers.ingest.app.lambda_handler",
        "handlers.sweeper.app.lambda_handler",
    }
    for f in functions:
        module, _, attribute = f.inputs["handler"].rpartition(".")
        source = (PROJECT_DIR / (module.replace(".", "/") + ".py")).read_text()
        assert f"def {attribute}(" in source
        assert f.inputs["runtime"] == "python3.12"
        assert f.inputs["tracingConfig"] == {"mode": "Active"}
        assert f.inputs["layers"] == [layer]
        assert list(f.inputs["code"].assets) == ["handlers"]  # what is in it: the test below
        component = f.name.removesuffix("-handler-function")
        log_group = dev.one("aws:cloudwatch/logGroup:LogGroup", f"{component}-handler-logs")
        assert f.inputs["loggingConfig"]["logGroup"] == f"{log_group.name}-mock"
        assert log_group.inputs["retentionInDays"] == 7
        assert dev.one("aws:iam/rolePolicy:RolePolicy", f"{component}-handler-policy").urn in f.dependencies


# --- storage, table, API, monitoring ------------------------------------------------------------------------------

def test_the_bucket_is_private_owner_enforced_expiring_and_refuses_insecure_requests(dev):
    block = dev.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                          "restrictPublicBuckets"))
    ownership = dev.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs
    assert ownership["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    sse = dev.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    rules = dev.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]
    expiring = {r["filter"]["prefix"]: r["expiration"]["days"] for r in rules if r["status"] == "Enabled"}
    # Quarantined halves and ingest records expire as the sessions' objects do.
    assert expiring == {layout.SESSIONS_PREFIX: 7, layout.INGEST_RECORDS_PREFIX: 7, layout.QUARANTINE_PREFIX: 7}
    policy = json.loads(dev.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    denies = {s["Sid"]: s for s in policy["Statement"] if s["Effect"] == "Deny"}
    assert denies["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert denies["DenyNonSigV4"]["Condition"] == {"StringNotEquals": {"s3:signatureversion": "AWS4-HMAC-SHA256"}}
    bucket_arn = arn_of(dev, BUCKET)
    for statement in denies.values():
        assert as_list(statement["Resource"]) == sorted([bucket_arn, f"{bucket_arn}/*"])


def test_browsers_may_put_with_the_granted_headers_from_configured_origins(dev):
    [rule] = dev.one("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration").inputs["corsRules"]
    assert rule["allowedMethods"] == ["PUT"]
    assert rule["allowedOrigins"] == ["http://localhost:3000"]
    # The local stack's gate enforces these very rules (cors.bucket_cors_rules): one definition for both.
    [local] = cors.bucket_cors_rules(["http://localhost:3000"])
    assert {k[0].lower() + k[1:]: v for k, v in local.items()} == rule
    assert {"content-type", "x-amz-checksum-sha256", "if-none-match"} <= set(rule["allowedHeaders"])
    assert rule["exposeHeaders"] == ["ETag"]


def test_browsers_may_call_the_api_from_configured_origins(dev):
    config = dev.one("aws:apigatewayv2/api:Api").inputs["corsConfiguration"]
    assert config == {
        "allowOrigins": ["http://localhost:3000"],
        "allowMethods": list(cors.API_ALLOWED_METHODS),
        "allowHeaders": list(cors.API_ALLOWED_HEADERS),
        "maxAge": cors.API_MAX_AGE_SECONDS,
    }
    assert {"authorization", "content-type"} <= set(config["allowHeaders"])


def test_the_table_is_on_demand_recoverable_encrypted_and_expires_rows(dev, prod):
    for run, protected in ((dev, False), (prod, True)):
        table = run.one(TABLE).inputs
        assert table["billingMode"] == "PAY_PER_REQUEST"
        assert (table["hashKey"], table["rangeKey"]) == (contract.TABLE_HASH_KEY, contract.TABLE_RANGE_KEY)
        assert {a["name"]: a["type"] for a in table["attributes"]} == {
            contract.TABLE_HASH_KEY: "S", contract.TABLE_RANGE_KEY: "S", contract.PENDING_INDEX_HASH_KEY: "S",
            contract.PENDING_INDEX_RANGE_KEY: "N"}
        assert table["pointInTimeRecovery"] == {"enabled": True}
        assert table["serverSideEncryption"] == {"enabled": True}
        assert table["ttl"] == {"attributeName": contract.TTL_ATTRIBUTE, "enabled": True}
        assert table["deletionProtectionEnabled"] is protected


def test_the_api_routes_every_contract_route_to_its_lambda_through_a_throttled_logged_stage(dev):
    routes = dev.of_type("aws:apigatewayv2/route:Route")
    assert sorted(r.inputs["routeKey"] for r in routes) == sorted(ROUTES)
    integration = dev.one("aws:apigatewayv2/integration:Integration")
    assert integration.inputs["integrationUri"].endswith(
        f"{arn_of(dev, FUNCTION, 'api-handler-function')}/invocations")
    assert all(r.inputs["target"] == "integrations/api-integration-mock-id" for r in routes)
    stage = dev.one("aws:apigatewayv2/stage:Stage").inputs
    assert stage["accessLogSettings"]["destinationArn"].endswith("log-group:api-access-logs-mock")
    assert stage["defaultRouteSettings"]["throttlingRateLimit"] == 50
    assert stage["defaultRouteSettings"]["throttlingBurstLimit"] == 100
    permission = dev.one(PERMISSION, "api-invoke-permission").inputs
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["sourceArn"] == f"arn:aws:execute-api:eu-west-1:{ACCOUNT_ID}:api-http-api-id/*/*"
    assert permission["sourceAccount"] == ACCOUNT_ID


ALIAS = "aws:lambda/alias:Alias"
INTEGRATION = "aws:apigatewayv2/integration:Integration"


def test_by_default_no_function_publishes_versions_and_the_api_invokes_latest(dev, prod):
    for run in (dev, prod):
        assert all("snapStart" not in f.inputs and "publish" not in f.inputs for f in run.of_type(FUNCTION))
        assert run.of_type(ALIAS) == []
        assert run.one(INTEGRATION).inputs["integrationUri"].endswith(
            f"{arn_of(run, FUNCTION, 'api-handler-function')}/invocations")
        assert "qualifier" not in run.one(PERMISSION, "api-invoke-permission").inputs


def test_with_api_snap_start_the_routes_invoke_the_alias_of_the_published_snapshotted_version():
    run = run_program("dev", {"apiSnapStart": "true"})
    api = function(run, "api")
    assert api.inputs["snapStart"] == {"applyOn": "PublishedVersions"}
    assert api.inputs["publish"] is True
    assert api.inputs["runtime"] == "python3.12"  # SnapStart for Python needs 3.12 or later
    alias = run.one(ALIAS).inputs
    # The alias follows the version each change publishes: the mock's first one.
    assert (alias["name"], alias["functionName"], alias["functionVersion"]) == ("live", f"{api.name}-mock", "1")
    alias_arn = f"{arn_of(run, FUNCTION, 'api-handler-function')}:live"
    assert run.one(INTEGRATION).inputs["integrationUri"].endswith(f"{alias_arn}/invocations")
    permission = run.one(PERMISSION, "api-invoke-permission").inputs
    assert (permission["function"], permission["qualifier"]) == (f"{api.name}-mock", "live")
    # Only the API: the other functions are invoked asynchronously, where a cold start delays no caller.
    others = [f for f in run.of_type(FUNCTION) if f.name != api.name]
    assert others and all("snapStart" not in f.inputs and "publish" not in f.inputs for f in others)


def test_alarms_watch_every_dlq_every_function_and_the_handlers_failure_metrics(dev):
    alarms = {a.name: a.inputs for a in dev.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    every = list(alarms.values())
    dlqs = {(a["metricName"], a["dimensions"]["QueueName"]) for a in every if a["namespace"] == "AWS/SQS"}
    assert dlqs == {("ApproximateNumberOfMessagesVisible", f"{q.name}-mock") for q in dev.of_type(QUEUE)}
    assert len(dlqs) == 2
    watched = {(a["metricName"], a["dimensions"]["FunctionName"]) for a in every if a["namespace"] == "AWS/Lambda"}
    names = {f"{f.name}-mock" for f in dev.of_type(FUNCTION)}
    assert watched == {(metric, name) for metric in ("Errors", "Throttles") for name in names}
    own = {(a["metricName"], a["dimensions"]["service"]) for a in every if a["namespace"] == contract.METRICS_NAMESPACE}
    assert own == {("SessionsMarkedIncomplete", "session-uploads-sweeper"), ("SweepFailures", "session-uploads-sweeper"),
                   ("WindowsHealed", "session-uploads-sweeper"), ("ProcessingTriggerFailures", "session-uploads-api"),
                   ("InvalidUploads", "session-uploads-upload-complete")}
    assert len(dlqs) + len(watched) + len(own) == len(every)
    topic = dev.outputs["alarmTopicArn"]
    for alarm in every:
        assert (alarm["threshold"], alarm["comparisonOperator"]) == (0, "GreaterThanThreshold")
        assert alarm["alarmActions"] == [topic]
    assert not dev.of_type("aws:sns/topicSubscription:TopicSubscription")


def test_stack_outputs(dev):
    assert dev.outputs == {
        "apiUrl": "https://api-http-api-id.execute-api.eu-west-1.amazonaws.com",
        "bucketName": "storage-bucket-mock",
        "tableName": "sessions-table-mock",
        "dlqUrl": f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT_ID}/upload-completion-dlq-mock",
        "alarmTopicArn": f"arn:aws:sns:eu-west-1:{ACCOUNT_ID}:monitoring-alarms-mock",
        "processingEventBusName": "session-uploads-dev",
        "userPoolId": "eu-west-1_identityuserpool",
        "userPoolClientId": "identity-app-client-mock-id",
        "jwtIssuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_identityuserpool",
        # What the operator tool reads (ops/target.py) and grants itself (`ops iam-policy`).
        "region": "eu-west-1",
        "bucketArn": "arn:aws:s3:::storage-bucket-mock",
        "tableArn": f"arn:aws:dynamodb:eu-west-1:{ACCOUNT_ID}:table/sessions-table-mock",
        "dlqArn": f"arn:aws:sqs:eu-west-1:{ACCOUNT_ID}:upload-completion-dlq-mock",
        "completionFunctionName": "upload-completion-handler-function-mock",
        "completionFunctionArn": f"arn:aws:lambda:eu-west-1:{ACCOUNT_ID}:function:upload-completion-handler-function-mock",
        "sweeperFunctionName": "sweeper-handler-function-mock",
        "sweeperFunctionArn": f"arn:aws:lambda:eu-west-1:{ACCOUNT_ID}:function:sweeper-handler-function-mock",
        "sweeperDlqUrl": f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT_ID}/sweeper-dlq-mock",
        "sweeperDlqArn": f"arn:aws:sqs:eu-west-1:{ACCOUNT_ID}:sweeper-dlq-mock",
    }


def test_no_deprecated_v2_resource_is_used(dev, prod):
    assert [r.type for r in (*dev.resources, *prod.resources) if r.type.endswith("V2")] == []


def test_every_child_is_parented_to_its_component(dev, prod):
    for run in (dev, prod):
        components = {r.urn: r for r in run.resources if r.type.startswith(COMPONENT_PREFIX)}
        for resource in run.resources:
            parent = components.get(resource.parent)
            if resource.type.startswith(COMPONENT_PREFIX) and parent is None:
                assert resource.parent.endswith(f"pulumi:pulumi:Stack::session-uploads-{run.stack}")
                continue
            assert parent is not None, f"{resource.type} {resource.name} is not inside a component"
            assert resource.name.startswith(f"{parent.name}-")


# --- EventBridge transport, external ingest, production settings (prod) -----------------------------------------

def test_the_eventbridge_transport_filters_object_created_on_the_bucket_and_key_layout(prod):
    notification = prod.one(NOTIFICATION).inputs
    assert notification == {"bucket": prod.outputs["bucketName"], "eventbridge": True}
    pattern = json.loads(prod.one("aws:cloudwatch/eventRule:EventRule", "upload-completion-rule").inputs["eventPattern"])
    assert pattern["source"] == ["aws.s3"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [prod.outputs["bucketName"]]
    wildcards = [matcher["wildcard"] for matcher in pattern["detail"]["object"]["key"]]
    assert sorted(wildcards) == sorted(f"{prefix}*{suffix}" for prefix, suffix in layout.object_filters())

    def matched(key):  # EventBridge's "*" matches any run of characters, "/" included, as fnmatchcase's does
        return [w for w in wildcards if fnmatch.fnmatchcase(key, w)]

    for media in layout.Media:
        assert len(matched(layout.object_key(SESSION, 12, media))) == 1, media
    for key in NOT_WINDOWS:
        assert matched(key) == [], key


def test_the_eventbridge_target_retries_then_dead_letters_and_may_invoke(prod):
    rule_arn = f"arn:aws:events:eu-west-1:{ACCOUNT_ID}:rule/upload-completion-rule-mock"
    target = prod.one("aws:cloudwatch/eventTarget:EventTarget", "upload-completion-target")
    assert target.inputs["arn"] == arn_of(prod, FUNCTION, "upload-completion-handler-function")
    assert target.inputs["retryPolicy"] == {"maximumRetryAttempts": 2, "maximumEventAgeInSeconds": 3600}
    assert target.inputs["deadLetterConfig"] == {"arn": arn_of(prod, QUEUE, COMPLETION_DLQ)}
    permission = prod.one(PERMISSION, "upload-completion-events-permission")
    assert (permission.inputs["principal"], permission.inputs["sourceArn"]) == ("events.amazonaws.com", rule_arn)
    assert permission.inputs["sourceAccount"] == ACCOUNT_ID
    assert permission.urn in target.dependencies
    [allow] = json.loads(prod.one("aws:sqs/queuePolicy:QueuePolicy", "upload-completion-dlq-policy").inputs["policy"])[
        "Statement"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": rule_arn}}
    assert "s3.amazonaws.com" not in {p.inputs["principal"] for p in prod.of_type(PERMISSION)}


def test_an_external_ingest_target_replaces_the_default_one(dev, prod):
    external = prod.config["session-uploads:ingestFunctionArn"]
    assert not prod.of_type("session-uploads:index:DefaultIngest")
    assert sorted(f.name for f in prod.of_type(FUNCTION)) == [
        "api-handler-function", "sweeper-handler-function", "upload-completion-handler-function"]
    assert _grants(prod, "upload-completion")["Ingest"] == (["lambda:InvokeFunction"], [external])
    variables = function(prod, "upload-completion").inputs["environment"]["variables"]
    assert variables[contract.ENV_INGEST_FUNCTION_NAME] == external
    assert len(dev.of_type("session-uploads:index:DefaultIngest")) == 1


def test_the_prod_stack_authenticates_encrypts_with_its_key_and_pages_on_call(prod):
    authorizer = prod.one("aws:apigatewayv2/authorizer:Authorizer").inputs
    assert authorizer["authorizerType"] == "JWT"
    assert authorizer["identitySources"] == ["$request.header.Authorization"]
    assert authorizer["jwtConfiguration"] == {"issuer": "https://auth.example.com/", "audiences": ["session-uploads"]}
    routes = prod.of_type("aws:apigatewayv2/route:Route")
    assert {(r.inputs["authorizationType"], r.inputs["authorizerId"]) for r in routes} == {
        ("JWT", "api-jwt-authorizer-mock-id")}
    sse = prod.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms", "kmsMasterKeyId": prod.config["session-uploads:kmsKeyArn"]}
    subscription = prod.one("aws:sns/topicSubscription:TopicSubscription").inputs
    assert (subscription["protocol"], subscription["endpoint"]) == ("email", "oncall@example.com")
    stage = prod.one("aws:apigatewayv2/stage:Stage").inputs["defaultRouteSettings"]
    assert (stage["throttlingRateLimit"], stage["throttlingBurstLimit"]) == (200, 400)
    assert {g.inputs["retentionInDays"] for g in prod.of_type("aws:cloudwatch/logGroup:LogGroup")} == {90}


# --- configuration errors -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"jwtAudience": "session-uploads"}, "session-uploads:jwtIssuer"),
        ({"jwtIssuer": "https://auth.example.com/"}, "session-uploads:jwtAudience"),
        ({"jwtIssuer": "http://auth.example.com/", "jwtAudience": "session-uploads"}, "session-uploads:jwtIssuer"),
        ({"allowUnauthenticated": "true", "jwtIssuer": "https://auth.example.com/"},
         "session-uploads:allowUnauthenticated"),
        ({"allowUnauthenticated": "true", "jwtAudience": "session-uploads"}, "session-uploads:allowUnauthenticated"),
        ({"allowUnauthenticated": "yes"}, "session-uploads:allowUnauthenticated"),
        ({"eventTransport": "sqs"}, "session-uploads:eventTransport"),
        ({"retentionDays": "a month"}, "session-uploads:retentionDays"),
        ({"ingestFunctionArn": "media-ingest"}, "session-uploads:ingestFunctionArn"),
        ({"corsAllowedOrigins": "*"}, "session-uploads:corsAllowedOrigins"),
        ({"logRetentionDays": "10"}, "session-uploads:logRetentionDays"),
        ({"apiSnapStart": "yes"}, "session-uploads:apiSnapStart"),
    ],
)
def test_a_config_error_names_its_key(overrides, key):
    with pytest.raises(ConfigError, match=key):
        run_program("dev", overrides)


def test_a_missing_region_is_named():
    with pytest.raises(ConfigError, match="aws:region"):
        run_program("dev", {"aws:region": ""})


@pytest.mark.parametrize(
    ("component", "timeout"),
    [
        ("api", contract.API_FUNCTION_TIMEOUT_SECONDS),
        ("upload-completion", contract.COMPLETION_FUNCTION_TIMEOUT_SECONDS),
        ("ingest", contract.INGEST_FUNCTION_TIMEOUT_SECONDS),
        ("sweeper", contract.SWEEPER_FUNCTION_TIMEOUT_SECONDS),
    ],
)
def test_each_function_has_the_timeout_the_local_stack_runs_it_with(dev, component, timeout):
    assert function(dev, component).inputs["timeout"] == timeout


def test_a_claim_outlives_the_completion_function_and_expires_before_lambda_retries():
    # The exactly-once argument of handlers/domain/completion.py: a live claimant always finishes inside its lease,
    # and Lambda's first async retry (about a minute later) finds a dead claimant's lease expired.
    assert contract.COMPLETION_FUNCTION_TIMEOUT_SECONDS < contract.DEFAULT_INGEST_CLAIM_LEASE_SECONDS < 60


def test_each_function_ships_the_handlers_sources_and_the_runtimes_bytecode_of_each_module(dev):
    sources = sorted(f"handlers/{p.relative_to(PROJECT_DIR / 'handlers')}" for p in (PROJECT_DIR / "handlers").rglob("*")
                     if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    shipped = archive_files(function(dev, "api").inputs["code"])
    for component in ("upload-completion", "ingest", "sweeper"):
        assert archive_files(function(dev, component).inputs["code"]) == shipped
    assert sorted(n for n in shipped if not layer.is_bytecode(n)) == sources
    # Not the __pycache__ a local run writes beside the sources: the runtime's, compiled for the archive
    # (tests/infra/test_code.py checks each is its module's).
    bytecode = {n: path for n, path in shipped.items() if layer.is_bytecode(n)}
    assert all(Path(path).is_relative_to(code.BUILD_DIR) for path in bytecode.values())
    expected = {f"{folder}/__pycache__/{module}.cpython-312.pyc" for folder, _, module in
                (name.removesuffix(".py").rpartition("/") for name in sources if name.endswith(".py"))}
    if bytecode or layer.runtime_python():  # none only on a machine without Python 3.12
        assert set(bytecode) == expected
