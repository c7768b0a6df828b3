"""The session-uploads stack: read the config once, compose the components, export what clients need."""

import pulumi
import pulumi_aws as aws

import stack_config
from components.api import Api, ApiArgs
from components.ingest import DefaultIngest, DefaultIngestArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.sessions_table import SessionsTable, SessionsTableArgs
from components.storage import Storage, StorageArgs
from components.upload_completion import UploadCompletion, UploadCompletionArgs

config = stack_config.load()
account_id = aws.get_caller_identity_output().account_id
layer_arn = config.powertools_layer_arn
functions = dict(runtime=config.lambda_runtime, layer_arn=layer_arn, log_retention_days=config.log_retention_days)

storage = Storage("storage", StorageArgs(
    retention_days=config.retention_days,
    kms_key_arn=config.kms_key_arn,
    cors_allowed_origins=config.cors_allowed_origins,
))
sessions = SessionsTable("sessions", SessionsTableArgs(deletion_protection=config.deletion_protection))

function_names = {}
if config.ingest_function_arn:
    ingest_arn = config.ingest_function_arn
else:
    ingest = DefaultIngest("ingest", DefaultIngestArgs(
        bucket_name=storage.name, bucket_arn=storage.arn, kms_key_arn=config.kms_key_arn, **functions))
    ingest_arn = ingest.arn
    function_names["ingest"] = ingest.handler.name

api = Api("api", ApiArgs(
    bucket_name=storage.name,
    bucket_arn=storage.arn,
    table_name=sessions.name,
    table_arn=sessions.arn,
    url_expires_seconds=config.url_expires_seconds,
    max_audio_bytes=config.max_audio_bytes,
    retention_days=config.retention_days,
    throttling_rate_limit=config.throttling_rate_limit,
    throttling_burst_limit=config.throttling_burst_limit,
    account_id=account_id,
    jwt_issuer=config.jwt_issuer,
    jwt_audience=config.jwt_audience,
    allow_unauthenticated=config.allow_unauthenticated,
    cors_allowed_origins=config.cors_allowed_origins,
    kms_key_arn=config.kms_key_arn,
    **functions,
))
completion = UploadCompletion("upload-completion", UploadCompletionArgs(
    bucket_name=storage.name,
    bucket_arn=storage.arn,
    table_name=sessions.name,
    table_arn=sessions.arn,
    ingest_function_arn=ingest_arn,
    account_id=account_id,
    max_event_age_seconds=config.max_event_age_seconds,
    event_transport=config.event_transport,
    **functions,
))
function_names |= {"api": api.handler.name, "upload-completion": completion.handler.name}
monitoring = Monitoring("monitoring", MonitoringArgs(
    dlq_name=completion.dlq.name, function_names=function_names, alarm_email=config.alarm_email))

pulumi.export("apiUrl", api.url)
pulumi.export("bucketName", storage.name)
pulumi.export("tableName", sessions.name)
pulumi.export("dlqUrl", completion.dlq_url)
pulumi.export("alarmTopicArn", monitoring.topic_arn)
