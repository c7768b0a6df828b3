"""A handler module for the local runtime's own tests, built as the real ones are (a setting, a client, Logger,
Metrics and an HTTP API resolver at import). A plain event adds its name to the logger keys and the metrics, meets
the other invocations at the event's rendezvous (if any) so that they overlap, logs, and reports what its instance
holds; an HTTP API event for GET /caller meets the others inside the route, then answers what the resolver says the
request is. An event with `presign` signs a URL to list that bucket (a call the function's recorder sees, made
without a network); one with `exit` ends the instance's process, as a crashed runtime would.

Instances run in processes of their own: a rendezvous is a folder where each invocation leaves a file, then waits
for `parties` of them."""

from __future__ import annotations

import os
import time
from pathlib import Path

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics(namespace="DevstackProbe")
setting = os.environ["PROBE_SETTING"]
s3 = boto3.client("s3")
app = APIGatewayHttpResolver()
RENDEZVOUS_SECONDS = 10


def meet(rendezvous: dict | None, name: str) -> None:
    if rendezvous is None:
        return
    folder = Path(rendezvous["folder"])
    (folder / name).touch()
    deadline = time.monotonic() + RENDEZVOUS_SECONDS
    while len(list(folder.iterdir())) < rendezvous["parties"]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name}: the other invocations never came")
        time.sleep(0.01)


@app.get("/caller")
def caller() -> dict:
    sub = app.current_event.request_context.authorizer.jwt_claim["sub"]
    meet(app.current_event.raw_event.get("rendezvous"), sub)
    return {"sub": sub, "requestId": app.lambda_context.aws_request_id}


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context: object) -> dict:
    if "rawPath" in event:
        return app.resolve(event, context)
    if event.get("exit"):
        os._exit(3)
    name = event["name"]
    logger.append_keys(probe=name)
    metrics.add_dimension(name="probe", value=name)
    metrics.add_metric(name=f"Probe{name}", unit=MetricUnit.Count, value=1)
    meet(event.get("rendezvous"), name)
    if "presign" in event:
        s3.generate_presigned_url("list_objects_v2", Params={"Bucket": event["presign"]})
    logger.info("probed")
    return {
        "setting": setting,
        "accessKey": s3._get_credentials().access_key,
        "endpoint": s3.meta.endpoint_url,
        "settingInEnvironment": os.environ.get("PROBE_SETTING"),
        "process": os.getpid(),
    }
