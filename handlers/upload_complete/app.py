"""The completion Lambda: S3 notification records or EventBridge "Object Created" events, each window recorded
and ingested exactly once (see handlers.domain.completion)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from urllib.parse import unquote_plus

gc.disable()  # until coldstart.imported(), this module's last statement: handlers/coldstart.py

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from handlers import coldstart, contract
from handlers.dal.clients import LazyClient
from handlers.dal.ingest import LambdaIngestTarget
from handlers.dal.objects import S3Objects
from handlers.domain import completion
from handlers.settings import CompletionSettings, processing_trigger, sessions_table

logger = Logger()
metrics = Metrics(namespace=contract.METRICS_NAMESPACE)
# Only botocore patched, so that every AWS call is still traced: Powertools' default patches every library the X-Ray
# SDK knows (httplib, sqlite3, requests, ...), importing each, and none of them is called here but through botocore.
tracer = Tracer(patch_modules=["botocore"])
settings = CompletionSettings.from_env()

store = sessions_table(settings.table_name, settings.processing)
# Lambda is called once a window is whole, EventBridge once a session is: clients built on their first call.
ingest = LambdaIngestTarget(LazyClient("lambda"), settings.ingest_function_name)
pipeline = completion.Pipeline(
    store=store,
    objects=S3Objects(boto3.client("s3"), settings.bucket_name),
    ingest=ingest,
    processing=processing_trigger(settings.processing),
)

_METRIC_BY_OUTCOME = {
    completion.Outcome.IGNORED_KEY: contract.Metric.FOREIGN_KEYS_SKIPPED,
    completion.Outcome.UNKNOWN_SESSION: contract.Metric.UNKNOWN_SESSIONS_SKIPPED,
    completion.Outcome.OBJECT_GONE: contract.Metric.MISSING_OBJECTS_SKIPPED,
    completion.Outcome.INVALID: contract.Metric.INVALID_UPLOADS,
    completion.Outcome.RECORDED: contract.Metric.WINDOWS_RECORDED,
    completion.Outcome.INGEST_TRIGGERED: contract.Metric.INGESTS_TRIGGERED,
    completion.Outcome.ALREADY_TRIGGERED: contract.Metric.DUPLICATE_EVENTS,
}


# Outcomes that never retry and deserve a look: a foreign key, an unknown session, an object gone, a refused upload.
_SKIPPED = {
    completion.Outcome.IGNORED_KEY,
    completion.Outcome.UNKNOWN_SESSION,
    completion.Outcome.OBJECT_GONE,
    completion.Outcome.INVALID,
}


def objects_created(event: dict) -> Iterator[completion.ObjectCreated]:
    """Every object of the event, whichever transport delivered it.

    Read from the event's own fields, as Powertools' S3Event and EventBridgeEvent would read them (a missing required
    field raises KeyError alike): importing either imports Powertools' whole data_classes package, some forty event
    types, at every cold start, for three fields."""
    if "Records" in event:
        for record in event["Records"]:
            if not record["eventName"].startswith("ObjectCreated:"):
                continue
            obj = record["s3"].get("get_object") or record["s3"]["object"]  # Intelligent-Tiering events say get_object
            # Keys in S3 notifications are URL-encoded (as sent: Powertools' S3Object.key would not decode them).
            yield completion.ObjectCreated(unquote_plus(obj["key"]), int(obj["size"]), obj.get("eTag") or "")
        return
    if event["detail-type"] != "Object Created":  # moto, for one, also emits "Object Tags Added" for a plain PUT
        return
    obj = event["detail"]["object"]
    # EventBridge keys are raw: Powertools' S3EventBridgeNotificationObject.key would unquote_plus a raw key.
    yield completion.ObjectCreated(obj["key"], int(obj.get("size", 0)), obj.get("etag", ""))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: object) -> dict:
    """Handle every object; raise at the end if any failed, so the whole event is retried (handling is idempotent)."""
    failures: list[Exception] = []
    handled = 0
    for obj in objects_created(event):
        try:
            outcome = completion.object_created(obj, pipeline)
        except Exception as error:  # noqa: BLE001 - collected and re-raised below, after the other records
            logger.exception("window not handled; the event will be retried", extra={"key": obj.key})
            failures.append(error)
            continue
        handled += 1
        metrics.add_metric(name=_METRIC_BY_OUTCOME[outcome], unit=MetricUnit.Count, value=1)
        log = logger.warning if outcome in _SKIPPED else logger.info
        log("window handled", extra={"key": obj.key, "outcome": outcome.value})
    if failures:
        metrics.add_metric(name=contract.Metric.WINDOW_FAILURES, unit=MetricUnit.Count, value=len(failures))
        raise failures[0]
    return {"handled": handled}


coldstart.imported()
