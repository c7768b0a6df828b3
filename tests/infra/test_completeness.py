"""Session completeness under mocks: the pending index, the processing grants, the scheduled sweeper, its config."""

from __future__ import annotations

import json

import pytest

from handlers import contract, layout
from offline.program import ACCOUNT_ID, run_program
from stack_config import ConfigError
from tests.infra.conftest import as_list, function, statements

TABLE = "aws:dynamodb/table:Table"
QUEUE = "aws:sqs/queue:Queue"
PERMISSION = "aws:lambda/permission:Permission"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
BUS = "aws:cloudwatch/eventBus:EventBus"
TRIGGERING = ("api", "upload-completion", "sweeper")  # every function that may deliver SessionReady
TABLE_ARN = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT_ID}:table/sessions-table-mock"
BUCKET_ARN = "arn:aws:s3:::storage-bucket-mock"
STATE_MACHINE = "arn:aws:states:eu-west-1:{account}:stateMachine:session-processing"


def bus_arn(name: str) -> str:
    return f"arn:aws:events:eu-west-1:{ACCOUNT_ID}:event-bus/{name}"


def grants(run, component) -> dict[str, tuple[list[str], list[str]]]:
    return {sid: (as_list(s["Action"]), as_list(s["Resource"])) for sid, s in statements(run, component).items()}


@pytest.fixture(scope="module")
def elsewhere():
    """dev on the account's default bus, with a state machine, a one-minute sweep and the default timeout."""
    return run_program("dev", {"processingEventBusName": "default", "sweepScheduleMinutes": "1",
                               "processingStateMachineArn": STATE_MACHINE.format(account="111122223333"),
                               "finalizingTimeoutMinutes": ""})


# --- the table --------------------------------------------------------------------------------------------------

def test_the_table_has_the_sparse_pending_index_the_sweeper_queries(dev, prod):
    for run in (dev, prod):
        table = run.one(TABLE).inputs
        [index] = table["globalSecondaryIndexes"]
        assert index == {
            "name": contract.PENDING_INDEX_NAME,
            "keySchemas": [{"attributeName": contract.PENDING_INDEX_HASH_KEY, "keyType": "HASH"},
                           {"attributeName": contract.PENDING_INDEX_RANGE_KEY, "keyType": "RANGE"}],
            "projectionType": "INCLUDE",
            "nonKeyAttributes": list(contract.PENDING_INDEX_PROJECTED_ATTRIBUTES),
        }
        # Every key attribute is defined with the type the store writes (a string mark, epoch seconds).
        defined = {a["name"]: a["type"] for a in table["attributes"]}
        assert defined[contract.PENDING_INDEX_HASH_KEY] == "S"
        assert defined[contract.PENDING_INDEX_RANGE_KEY] == "N"


# --- the processing trigger's grants and environment ---------------------------------------------------------

def test_without_a_configured_bus_the_stack_owns_one_and_only_it_may_receive_events(dev):
    bus = dev.one(BUS).inputs
    assert bus["name"] == "session-uploads-dev" == dev.outputs["processingEventBusName"]
    for component in TRIGGERING:
        found = grants(dev, component)
        assert found["ProcessingEvents"] == (["events:PutEvents"], [bus_arn("session-uploads-dev")])
        assert "ProcessingExecutions" not in found
        variables = function(dev, component).inputs["environment"]["variables"]
        assert variables[contract.ENV_PROCESSING_EVENT_BUS_NAME] == "session-uploads-dev"
        assert contract.ENV_PROCESSING_STATE_MACHINE_ARN not in variables
    assert not any(s["Action"] in ("events:PutEvents", "states:StartExecution")
                   for s in statements(dev, "ingest").values())


def test_a_configured_bus_and_state_machine_are_the_only_ones_granted(prod):
    machine = prod.config["session-uploads:processingStateMachineArn"]
    assert not prod.of_type(BUS) and not prod.of_type("session-uploads:index:ProcessingBus")
    for component in TRIGGERING:
        found = grants(prod, component)
        assert found["ProcessingEvents"] == (["events:PutEvents"], [bus_arn("media-platform-events")])
        assert found["ProcessingExecutions"] == (["states:StartExecution"], [machine])
        variables = function(prod, component).inputs["environment"]["variables"]
        assert variables[contract.ENV_PROCESSING_EVENT_BUS_NAME] == "media-platform-events"
        assert variables[contract.ENV_PROCESSING_STATE_MACHINE_ARN] == machine


def test_the_account_default_bus_can_be_chosen_explicitly(elsewhere):
    assert not elsewhere.of_type(BUS)
    assert grants(elsewhere, "sweeper")["ProcessingEvents"] == (["events:PutEvents"], [bus_arn("default")])
    assert elsewhere.outputs["processingEventBusName"] == "default"


# --- the sweeper ----------------------------------------------------------------------------------------------

def test_the_sweeper_holds_exactly_the_grants_of_settling_and_healing_sessions(dev):
    found = grants(dev, "sweeper")
    log_group = dev.one("aws:cloudwatch/logGroup:LogGroup", "sweeper-handler-logs").name
    assert found == {
        "PendingSessions": (["dynamodb:Query"], [f"{TABLE_ARN}/index/{contract.PENDING_INDEX_NAME}"]),
        # The heal: the session's window items (Query), then the completion path's reads and writes.
        "Sessions": (
            ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"],
            [TABLE_ARN],
        ),
        "ListSessions": (["s3:ListBucket"], [BUCKET_ARN]),
        "ReadUploads": (["s3:DeleteObject", "s3:GetObject"], [f"{BUCKET_ARN}/{layout.SESSIONS_PREFIX}*"]),
        "Quarantine": (["s3:PutObject"], [f"{BUCKET_ARN}/{layout.QUARANTINE_PREFIX}*"]),
        "Ingest": (["lambda:InvokeFunction"], [f"arn:aws:lambda:eu-west-1:{ACCOUNT_ID}:function:ingest-handler-function-mock"]),
        "ProcessingEvents": (["events:PutEvents"], [bus_arn("session-uploads-dev")]),
        "DeadLetters": (["sqs:SendMessage"], [f"arn:aws:sqs:eu-west-1:{ACCOUNT_ID}:sweeper-dlq-mock"]),
        "Logs": (["logs:CreateLogStream", "logs:PutLogEvents"],
                 [f"arn:aws:logs:eu-west-1:{ACCOUNT_ID}:log-group:{log_group}-mock:*"]),
        "Tracing": (["xray:PutTelemetryRecords", "xray:PutTraceSegments"], ["*"]),
    }


@pytest.mark.parametrize("function", ["sweeper", "upload-completion"])
def test_the_completion_path_may_list_only_under_the_sessions_prefix(dev, prod, function):
    for run in (dev, prod):
        listing = statements(run, function)["ListSessions"]
        # Without the condition ListBucket would list the whole bucket (ingest records, quarantine) to the sweeper.
        assert listing["Condition"] == {"StringLike": {"s3:prefix": f"{layout.SESSIONS_PREFIX}*"}}
        assert listing["Resource"] == BUCKET_ARN


def test_the_sweeper_holds_the_completion_path_s_object_grants(dev, prod):
    for run in (dev, prod):
        sweeper, completion = grants(run, "sweeper"), grants(run, "upload-completion")
        # The heal runs the completion path: what it does to objects, the sweeper must be allowed to do too.
        completion_objects = {sid: g for sid, g in completion.items() if any(a.startswith("s3:") for a in g[0])}
        assert completion_objects and all(g in sweeper.values() for g in completion_objects.values())
    assert "BucketKey" not in statements(dev, "sweeper")
    key = prod.config["session-uploads:kmsKeyArn"]
    assert grants(prod, "sweeper")["BucketKey"] == (["kms:Decrypt", "kms:GenerateDataKey"], [key])


def test_the_sweeper_heals_with_the_completion_path_s_environment(dev):
    variables = function(dev, "sweeper").inputs["environment"]["variables"]
    completion = function(dev, "upload-completion").inputs["environment"]["variables"]
    assert variables[contract.ENV_BUCKET_NAME] == dev.outputs["bucketName"]
    for name in (contract.ENV_INGEST_FUNCTION_NAME, contract.ENV_INGEST_CLAIM_LEASE_SECONDS):
        assert variables[name] == completion[name]  # one ingest target, one lease, whoever claims
    # Every function that claims a window's ingest finishes inside the lease (handlers/contract.py).
    for component in ("sweeper", "upload-completion"):
        assert function(dev, component).inputs["timeout"] < float(variables[contract.ENV_INGEST_CLAIM_LEASE_SECONDS])


def test_a_schedule_invokes_the_sweeper_with_bounded_retries_and_a_dlq(dev):
    sweeper = f"arn:aws:lambda:eu-west-1:{ACCOUNT_ID}:function:sweeper-handler-function-mock"
    dlq = f"arn:aws:sqs:eu-west-1:{ACCOUNT_ID}:sweeper-dlq-mock"
    rule = dev.one(RULE, "sweeper-schedule")
    assert rule.inputs["scheduleExpression"] == "rate(5 minutes)"
    assert "eventBusName" not in rule.inputs  # schedules run on the default bus only
    target = dev.one(TARGET, "sweeper-target")
    assert target.inputs["rule"] == "sweeper-schedule-mock"
    assert target.inputs["arn"] == sweeper
    assert target.inputs["retryPolicy"] == {"maximumRetryAttempts": 2, "maximumEventAgeInSeconds": 300}
    assert target.inputs["deadLetterConfig"] == {"arn": dlq}
    permission = dev.one(PERMISSION, "sweeper-events-permission")
    assert permission.inputs == {
        "action": "lambda:InvokeFunction", "function": "sweeper-handler-function-mock",
        "principal": "events.amazonaws.com", "sourceArn": f"arn:aws:events:eu-west-1:{ACCOUNT_ID}:rule/sweeper-schedule-mock",
        "sourceAccount": ACCOUNT_ID,
    }
    assert permission.urn in target.dependencies
    # A failed sweep is not retried by Lambda (the next run is the retry), and is kept, not dropped.
    config = dev.one(INVOKE_CONFIG, "sweeper-invoke-config").inputs
    assert config["functionName"] == "sweeper-handler-function-mock"
    assert (config["maximumRetryAttempts"], config["maximumEventAgeInSeconds"]) == (0, 300)
    assert config["destinationConfig"]["onFailure"]["destination"] == dlq
    queue = dev.one(QUEUE, "sweeper-dlq").inputs
    assert (queue["messageRetentionSeconds"], queue["sqsManagedSseEnabled"]) == (14 * 24 * 3600, True)
    [allow] = json.loads(dev.one("aws:sqs/queuePolicy:QueuePolicy", "sweeper-dlq-policy").inputs["policy"])["Statement"]
    assert (allow["Action"], allow["Resource"]) == ("sqs:SendMessage", dlq)
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": permission.inputs["sourceArn"]}}


def test_the_schedule_and_the_timeout_follow_the_config(dev, prod, elsewhere):
    assert elsewhere.one(RULE, "sweeper-schedule").inputs["scheduleExpression"] == "rate(1 minute)"
    # Never below the 60 s Lambda and EventBridge accept.
    assert elsewhere.one(TARGET, "sweeper-target").inputs["retryPolicy"]["maximumEventAgeInSeconds"] == 60
    for run, minutes in ((dev, 15), (prod, 120)):
        variables = function(run, "sweeper").inputs["environment"]["variables"]
        assert variables[contract.ENV_FINALIZING_TIMEOUT_SECONDS] == str(minutes * 60)
        assert variables[contract.ENV_SESSIONS_TABLE_NAME] == run.outputs["tableName"]
    variables = function(elsewhere, "sweeper").inputs["environment"]["variables"]
    assert variables[contract.ENV_FINALIZING_TIMEOUT_SECONDS] == str(contract.DEFAULT_FINALIZING_TIMEOUT_SECONDS)


# --- configuration errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"processingEventBusName": bus_arn("central")}, "session-uploads:processingEventBusName"),
        ({"processingEventBusName": "my bus"}, "session-uploads:processingEventBusName"),
        ({"processingStateMachineArn": "session-processing"}, "session-uploads:processingStateMachineArn"),
        ({"processingStateMachineArn": STATE_MACHINE.format(account="111122223333").replace("eu-west-1", "us-east-1")},
         "session-uploads:processingStateMachineArn"),
        ({"finalizingTimeoutMinutes": "0"}, "session-uploads:finalizingTimeoutMinutes"),
        ({"sweepScheduleMinutes": "often"}, "session-uploads:sweepScheduleMinutes"),
    ],
    ids=["bus-arn", "bus-name", "machine-not-arn", "machine-other-region", "timeout-zero", "schedule-not-int"],
)
def test_a_completeness_config_error_names_its_key(overrides, key):
    with pytest.raises(ConfigError, match=key):
        run_program("dev", overrides)


def test_the_timeout_s_former_key_is_refused_with_its_new_name():
    # An operator's value under the old key would otherwise be ignored, and sessions judged after the default hour.
    with pytest.raises(ConfigError, match="completionTimeoutMinutes: is no longer read: it is finalizingTimeoutMinutes"):
        run_program("dev", {"completionTimeoutMinutes": "15"})
