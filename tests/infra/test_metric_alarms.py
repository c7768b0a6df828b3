"""The alarms on the handlers' own metrics watch what the deployed handlers emit: namespace, name, dimensions."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from devstack import deploy, s3events
from handlers import contract, layout
from handlers.dal.sessions_table import SessionsTable
from handlers.domain.sessions import create_session
from tests.conftest import REGION, create_table, load_handler
from tests.handlers.conftest import Api, LambdaContext
from tests.infra.conftest import function

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def deployed_environment(aws, run, component) -> None:
    """The function's environment exactly as the program sets it, with its table in moto."""
    variables = function(run, component).inputs["environment"]["variables"]
    for name, value in variables.items():
        aws.setenv(name, value)
    create_table(boto3.resource("dynamodb", region_name=REGION), name=run.outputs["tableName"])


def emitted(out: str) -> set[tuple[str, str, tuple]]:
    """(namespace, metric, dimensions) of every EMF record Powertools printed."""
    found = set()
    for line in out.splitlines():
        if '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                for keys in directive["Dimensions"]:
                    found.add((directive["Namespace"], metric["Name"], tuple((k, record[k]) for k in keys)))
    return found


def watched(run, alarm_name) -> tuple[str, str, tuple]:
    alarm = run.one(ALARM, alarm_name).inputs
    return alarm["namespace"], alarm["metricName"], tuple(alarm["dimensions"].items())


@pytest.mark.parametrize(
    "alarm", ["monitoring-sessions-incomplete", "monitoring-sweep-failures", "monitoring-windows-healed"]
)
def test_the_sweeper_emits_what_its_alarms_watch(aws, dev, capsys, alarm):
    deployed_environment(aws, dev, "sweeper")
    sweeper = load_handler("handlers.sweeper.app")
    sweeper.lambda_handler({}, LambdaContext())
    assert watched(dev, alarm) in emitted(capsys.readouterr().out)


def test_the_api_emits_what_the_trigger_failure_alarm_watches(aws, dev, capsys):
    # No bus exists in moto, so delivering SessionReady fails: the very failure the alarm is for.
    deployed_environment(aws, dev, "api")
    api = Api(load_handler("handlers.api.app"))
    session = api.create()
    status, body = api.call("POST", f"/sessions/{session}/complete", body={"expectedWindowCount": 0})
    assert (status, body["status"]) == (202, "ready")
    assert watched(dev, "monitoring-processing-trigger-failures") in emitted(capsys.readouterr().out)


def test_the_completion_emits_what_the_invalid_uploads_alarm_watches(aws, dev, capsys):
    deployed_environment(aws, dev, "upload-completion")
    bucket = function(dev, "upload-completion").inputs["environment"]["variables"][contract.ENV_BUCKET_NAME]
    s3 = boto3.client("s3", region_name=REGION)
    deploy.create_bucket(s3, bucket, REGION)
    table = boto3.resource("dynamodb", region_name=REGION).Table(dev.outputs["tableName"])
    session = create_session("alice", "audio_only", store=SessionsTable(table, time.time, 45), retention_days=1)
    key = layout.audio_key(session["sessionId"], 0)
    s3.put_object(Bucket=bucket, Key=key, Body=b"not a WAV at all")
    completion = load_handler("handlers.upload_complete.app")
    completion.lambda_handler(s3events.notification(s3events.notification_record(bucket, key)), LambdaContext())
    assert watched(dev, "monitoring-invalid-uploads") in emitted(capsys.readouterr().out)
