"""The session-uploads stack: read the config once, compose the components, export what clients need."""

import pulumi
import pulumi_aws as aws

import layer
import stack_config
from components.api import Api, ApiArgs
from components.function_layer import FunctionLayer, FunctionLayerArgs
from components.identity import Identity, IdentityArgs
from components.ingest import DefaultIngest, DefaultIngestArgs
from components.monitoring import MetricWatch, Monitoring, MonitoringArgs, QueueWatch
from components.processing import ProcessingBus, ProcessingBusArgs, ProcessingTarget, event_bus_arn
from components.sessions_table import SessionsTable, SessionsTableArgs
from components.storage import Storage, StorageArgs
from components.sweeper import Sweeper, SweeperArgs
from components.upload_completion import UploadCompletion, UploadCompletionArgs
from handlers.contract import Metric

config = stack_config.load()
# What the functions import besides their own code: the layer `make package` built from layer/requirements.txt, the
# versions the tests ran. Missing or stale against the pins, the program stops here, naming the command to run.
built = layer.require_built()
account_id = aws.get_caller_identity_output().account_id

packages = FunctionLayer("packages", FunctionLayerArgs(
    layer_name=f"{stack_config.NAMESPACE}-{pulumi.get_stack()}-packages",
    archive_path=built.program_path,
    code_hash=built.code_hash,
    runtime=layer.RUNTIME,
    architecture=layer.ARCHITECTURE,
    description=f"The session-uploads functions' {len(built.packages)} packages, pinned in layer/requirements.txt",
))
functions = dict(runtime=layer.RUNTIME, layer_arn=packages.arn, log_retention_days=config.log_retention_days)

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

# SessionReady goes to a bus the platform names, or else to the stack's own bus rather than the account's default
# bus: consumers subscribe to this application's events alone, and the functions may put events on nothing else.
if config.processing_event_bus_name:
    bus_name = config.processing_event_bus_name
    bus_arn = event_bus_arn(aws.get_partition_output().partition, config.region, account_id, bus_name)
else:
    bus = ProcessingBus("processing", ProcessingBusArgs(bus_name=f"{stack_config.NAMESPACE}-{pulumi.get_stack()}"))
    bus_name, bus_arn = bus.name, bus.arn
processing = ProcessingTarget(bus_name, bus_arn, config.processing_state_machine_arn)

# The API authenticates with the IdP the stack is given, else with the stack's own user pool, so a stack works
# out of the box; only an explicit allowUnauthenticated leaves its routes open.
identity = None
match config.api_auth:
    case stack_config.ExternalIdp(issuer=jwt_issuer, audience=audience):
        jwt_audience = list(audience)
    case stack_config.OwnUserPool():
        identity = Identity("identity", IdentityArgs(region=config.region,
                                                     deletion_protection=config.deletion_protection))
        jwt_issuer, jwt_audience = identity.issuer, [identity.audience]
    case stack_config.Unauthenticated():
        jwt_issuer, jwt_audience = None, []

api = Api("api", ApiArgs(
    bucket_name=storage.name,
    bucket_arn=storage.arn,
    table_name=sessions.name,
    table_arn=sessions.arn,
    processing=processing,
    url_expires_seconds=config.url_expires_seconds,
    max_audio_bytes=config.max_audio_bytes,
    max_frames_bytes=config.max_frames_bytes,
    retention_days=config.retention_days,
    throttling_rate_limit=config.throttling_rate_limit,
    throttling_burst_limit=config.throttling_burst_limit,
    account_id=account_id,
    jwt_issuer=jwt_issuer,
    jwt_audience=jwt_audience,
    allow_unauthenticated=isinstance(config.api_auth, stack_config.Unauthenticated),
    cors_allowed_origins=config.cors_allowed_origins,
    kms_key_arn=config.kms_key_arn,
    snap_start=config.api_snap_start,
    **functions,
))
completion = UploadCompletion("upload-completion", UploadCompletionArgs(
    bucket_name=storage.name,
    bucket_arn=storage.arn,
    table_name=sessions.name,
    table_arn=sessions.arn,
    ingest_function_arn=ingest_arn,
    processing=processing,
    account_id=account_id,
    max_event_age_seconds=config.max_event_age_seconds,
    event_transport=config.event_transport,
    kms_key_arn=config.kms_key_arn,
    **functions,
))
sweeper = Sweeper("sweeper", SweeperArgs(
    bucket_name=storage.name,
    bucket_arn=storage.arn,
    table_name=sessions.name,
    table_arn=sessions.arn,
    ingest_function_arn=ingest_arn,
    kms_key_arn=config.kms_key_arn,
    pending_index_arn=sessions.pending_index_arn,
    processing=processing,
    finalizing_timeout_seconds=config.finalizing_timeout_minutes * 60,
    schedule_minutes=config.sweep_schedule_minutes,
    account_id=account_id,
    **functions,
))
function_names |= {"api": api.handler.name, "upload-completion": completion.handler.name,
                   "sweeper": sweeper.handler.name}
monitoring = Monitoring("monitoring", MonitoringArgs(
    dead_letter_queues={
        "upload-completion": QueueWatch(completion.dlq.name,
                                        "Completion events exhausted their retries: windows unrecorded"),
        "sweeper": QueueWatch(sweeper.dlq.name, "Scheduled sweeps failed or could not be delivered"),
    },
    function_names=function_names,
    metrics={
        "sessions-incomplete": MetricWatch(sweeper.handler.service_name, Metric.SESSIONS_MARKED_INCOMPLETE,
                                           "Sessions ended incomplete: windows still missing after the timeout"),
        "sweep-failures": MetricWatch(sweeper.handler.service_name, Metric.SWEEP_FAILURES,
                                      "The sweeper could not settle some sessions; the next run retries them"),
        "windows-healed": MetricWatch(sweeper.handler.service_name, Metric.WINDOWS_HEALED,
                                      "S3 events were lost or late: the sweeper recorded windows whose objects existed "
                                      "(see its log for the sessions; `ops dlq show` for dead-lettered events)"),
        "processing-trigger-failures": MetricWatch(api.handler.service_name, Metric.PROCESSING_TRIGGER_FAILURES,
                                                   "SessionReady not delivered on complete; the sweeper retries it"),
        "invalid-uploads": MetricWatch(completion.handler.service_name, Metric.INVALID_UPLOADS,
                                       "Uploaded halves refused (not a WAV, a frames bundle of the wrong count) and "
                                       "quarantined; the client may upload the window again"),
    },
    alarm_email=config.alarm_email,
))

pulumi.export("apiUrl", api.url)
pulumi.export("bucketName", storage.name)
pulumi.export("tableName", sessions.name)
pulumi.export("dlqUrl", completion.dlq_url)
pulumi.export("alarmTopicArn", monitoring.topic_arn)
pulumi.export("processingEventBusName", bus_name)
# What the operator tool (`python -m ops`) reads from `pulumi stack output --json`, and the ARNs `ops iam-policy`
# grants the operator.
pulumi.export("region", config.region)
pulumi.export("bucketArn", storage.arn)
pulumi.export("tableArn", sessions.arn)
pulumi.export("dlqArn", completion.dlq_arn)
pulumi.export("completionFunctionName", completion.handler.name)
pulumi.export("completionFunctionArn", completion.handler.arn)
pulumi.export("sweeperFunctionName", sweeper.handler.name)
pulumi.export("sweeperFunctionArn", sweeper.handler.arn)
pulumi.export("sweeperDlqUrl", sweeper.dlq_url)
pulumi.export("sweeperDlqArn", sweeper.dlq_arn)
if identity is not None:
    pulumi.export("userPoolId", identity.user_pool_id)
    pulumi.export("userPoolClientId", identity.client_id)
    pulumi.export("jwtIssuer", identity.issuer)
