"""A handler module for the local runtime's own tests, built as the real ones are (a setting, a client, Logger and
Metrics at import): it adds its event's name to its logger keys and its metrics, waits at the event's barrier (if
any) so that invocations overlap, logs, and reports what its instance holds."""

from __future__ import annotations

import os

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics(namespace="DevstackProbe")
setting = os.environ["PROBE_SETTING"]
s3 = boto3.client("s3")


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context: object) -> dict:
    name = event["name"]
    logger.append_keys(probe=name)
    metrics.add_dimension(name="probe", value=name)
    metrics.add_metric(name=f"Probe{name}", unit=MetricUnit.Count, value=1)
    if "barrier" in event:
        event["barrier"].wait()
    logger.info("probed")
    return {
        "setting": setting,
        "accessKey": s3._get_credentials().access_key,
        "endpoint": s3.meta.endpoint_url,
        "settingInProcessEnvironment": os.environ.get("PROBE_SETTING"),
    }
