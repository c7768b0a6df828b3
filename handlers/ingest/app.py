"""The default ingest target: records each ingest request as an object outside the notification filter."""

from __future__ import annotations

import gc
import json

gc.disable()  # until coldstart.imported(), this module's last statement: handlers/coldstart.py

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from handlers import coldstart, contract, layout
from handlers.settings import IngestSettings

logger = Logger()
metrics = Metrics(namespace=contract.METRICS_NAMESPACE)
# Only botocore patched, so that every AWS call is still traced: Powertools' default patches every library the X-Ray
# SDK knows (httplib, sqlite3, requests, ...), importing each, and none of them is called here but through botocore.
tracer = Tracer(patch_modules=["botocore"])
settings = IngestSettings.from_env()
s3_client = boto3.client("s3")

_FIELDS = ("sessionId", "userId", "windowIndex", "frameCount")


def record_request(request: dict, request_id: str, *, s3: object, bucket: str) -> str:
    """Idempotent per invocation: Lambda's retries of one invocation share its request id, hence its key.

    A second invocation for the same window writes a second object, so a double ingest stays visible.
    """
    missing = [field for field in _FIELDS if field not in request]
    if missing or not layout.is_session_id(request["sessionId"]) or not layout.is_window_index(request["windowIndex"]):
        raise ValueError(f"not an ingest request (missing or invalid: {missing or 'sessionId/windowIndex'})")
    key = layout.ingest_record_key(request["sessionId"], request["windowIndex"], request_id)
    body = json.dumps({field: request[field] for field in _FIELDS} | {"requestId": request_id}).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return key


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: object) -> dict:
    key = record_request(event, context.aws_request_id, s3=s3_client, bucket=settings.bucket_name)
    metrics.add_metric(name=contract.Metric.INGEST_REQUESTS_RECORDED, unit=MetricUnit.Count, value=1)
    logger.info("ingest request recorded", extra={"key": key})
    return {"key": key}


coldstart.imported()
