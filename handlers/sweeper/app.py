"""The scheduled sweeper: finalizing sessions past the timeout become incomplete; owed processing triggers are sent."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from handlers import contract
from handlers.domain import completeness
from handlers.settings import SweeperSettings, processing_trigger, sessions_table

logger = Logger()
metrics = Metrics(namespace=contract.METRICS_NAMESPACE)
tracer = Tracer()
settings = SweeperSettings.from_env()

store = sessions_table(settings.table_name, settings.processing)
trigger = processing_trigger(settings.processing)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: object) -> dict:
    report = completeness.sweep(
        store=store,
        trigger=trigger,
        timeout_seconds=settings.completion_timeout_seconds,
    )
    metrics.add_metric(name="SessionsMarkedIncomplete", unit=MetricUnit.Count, value=len(report.marked_incomplete))
    metrics.add_metric(name="ProcessingTriggersRetried", unit=MetricUnit.Count, value=len(report.triggered))
    metrics.add_metric(name="SweepFailures", unit=MetricUnit.Count, value=len(report.failed))
    for session_id in report.marked_incomplete:
        logger.warning("session incomplete after the completion timeout", extra={"sessionId": session_id})
    if report.failed:
        logger.error("sessions not swept; the next run retries them", extra={"sessionIds": report.failed})
    return {
        "markedIncomplete": report.marked_incomplete,
        "triggered": report.triggered,
        "failed": report.failed,
    }
