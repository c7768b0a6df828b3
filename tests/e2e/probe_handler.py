"""A handler module for the local runtime's own tests, built as the real ones are (a setting, a client, Logger,
Metrics and an HTTP API resolver at import). A plain event adds its name to the logger keys and the metrics, waits at
the event's barrier (if any) so that invocations overlap, logs, and reports what its instance holds; an HTTP API event
for GET /caller waits at its barrier inside the route, then answers what the resolver says the request is."""

from __future__ import annotations

import os

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics(namespace="DevstackProbe")
setting = os.environ["PROBE_SETTING"]
s3 = boto3.client("s3")
app = APIGatewayHttpResolver()


@app.get("/caller")
def caller() -> dict:
    app.current_event.raw_event["barrier"].wait()
    return {"sub": app.current_event.request_context.authorizer.jwt_claim["sub"],
            "requestId": app.lambda_context.aws_request_id}


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context: object) -> dict:
    if "rawPath" in event:
        return app.resolve(event, context)
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
