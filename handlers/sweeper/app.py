"""The scheduled sweeper: finalizing sessions past the timeout are healed of lost events, then become ready or
incomplete; owed processing triggers are sent."""

from __future__ import annotations

import gc

gc.disable()  # until coldstart.imported(), this module's last statement: handlers/coldstart.py

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from handlers import coldstart, contract
from handlers.dal.ingest import LambdaIngestTarget
from handlers.dal.listing import S3Listing
from handlers.dal.objects import S3Objects
from handlers.domain import completeness, completion
from handlers.domain.entities import Ranges
from handlers.domain.healing import Healer
from handlers.settings import SweeperSettings, processing_trigger, sessions_table

logger = Logger()
metrics = Metrics(namespace=contract.METRICS_NAMESPACE)
tracer = Tracer(patch_modules=["botocore"])  # every AWS call traced; nothing else patched at a cold start
settings = SweeperSettings.from_env()

store = sessions_table(settings.table_name, settings.processing)
trigger = processing_trigger(settings.processing)
s3 = boto3.client("s3")
# The heal runs objects through the completion path, built here as the completion function builds it.
pipeline = completion.Pipeline(
    store=store,
    objects=S3Objects(s3, settings.bucket_name),
    ingest=LambdaIngestTarget(boto3.client("lambda"), settings.ingest_function_name),
    processing=trigger,
)
listing = S3Listing(s3, settings.bucket_name)


def _time_left(context: object) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000 if remaining else float("inf")


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: object) -> dict:
    report = completeness.sweep(
        store=store,
        trigger=trigger,
        timeout_seconds=settings.finalizing_timeout_seconds,
        heal=Healer(listing, pipeline, time_left=lambda: _time_left(context)),
    )
    for metric, count in (
        (contract.Metric.SESSIONS_MARKED_INCOMPLETE, len(report.marked_incomplete)),
        (contract.Metric.PROCESSING_TRIGGERS_RETRIED, len(report.triggered)),
        (contract.Metric.SWEEP_FAILURES, len(report.failed)),
        (contract.Metric.WINDOWS_HEALED, report.windows_healed),
    ):
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=count)
    for session_id, windows in report.healed.items():
        logger.warning(
            "events lost: windows recorded by the sweeper's heal",
            extra={"sessionId": session_id, "windows": Ranges.of(windows)},
        )
    for session_id in report.marked_incomplete:
        logger.warning("session incomplete after the finalizing timeout", extra={"sessionId": session_id})
    if report.failed:
        logger.error("sessions not swept; the next run retries them", extra={"sessionIds": report.failed})
    if report.deferred:
        logger.warning("out of time: sessions left for the next run", extra={"sessionIds": report.deferred})
    return {
        "markedIncomplete": report.marked_incomplete,
        "triggered": report.triggered,
        "failed": report.failed,
        "healed": {session_id: Ranges.of(windows) for session_id, windows in report.healed.items()},
        "deferred": report.deferred,
    }


coldstart.imported()
