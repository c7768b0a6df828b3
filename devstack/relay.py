"""The event relay: S3 notifications from the queue to the completion function, with Lambda's async semantics
(2 retries, then the on-failure destination: the DLQ)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from devstack.runtime import AsyncInvoker

log = logging.getLogger("devstack")

POLL_INTERVAL_SECONDS = 0.1


def failure_record(function_arn: str, event: Any, request_id: str, error: BaseException, attempts: int) -> dict:
    """What Lambda sends to an on-failure destination once an async invocation's retries are exhausted."""
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{function_arn}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__},
    }


class EventRelay:
    """Polls the notification queue; each S3 event goes to the completion function's async invoker, and its
    message is deleted once the event was handled or dead-lettered (so a crash in between redelivers it)."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        invoker: AsyncInvoker,
        stopping: threading.Event,
        duplicate: Callable[[], bool] = lambda: False,
        drop: Callable[[], bool] = lambda: False,
    ):
        self._sqs = sqs
        self._queue_url = queue_url
        self._invoker = invoker
        self._stopping = stopping
        self._duplicate = duplicate  # asked once per event: True delivers it twice, as S3 sometimes does
        self._drop = drop  # asked once per event: True loses it (deleted, never delivered)
        self._thread = threading.Thread(target=self._poll, name="devstack-relay", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        if self._thread.is_alive():
            self._thread.join()

    def _poll(self) -> None:
        while not self._stopping.is_set():
            try:
                # Short polls: a long poll would hold stop() for up to a second.
                messages = self._sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10).get(
                    "Messages", []
                )
            except Exception:  # noqa: BLE001 - keep relaying; moto may be going away while we stop
                if not self._stopping.is_set():
                    log.exception("receiving S3 events failed")
                    self._stopping.wait(0.5)
                continue
            for message in messages:
                self._relay(message)
            if not messages:
                self._stopping.wait(POLL_INTERVAL_SECONDS)

    def _relay(self, message: dict) -> None:
        receipt = message["ReceiptHandle"]
        try:
            event = json.loads(message["Body"])
        except ValueError:
            event = None
        if not isinstance(event, dict) or event.get("Event") == "s3:TestEvent":
            # S3 posts a test event when the notification is configured; a Lambda target never sees one.
            self._delete(receipt)
            return
        if self._drop():
            log.info("S3 event dropped (devstack fault): %s", _keys(event))
            self._delete(receipt)
            return
        if self._duplicate():
            # A second, independent async invocation of the same event; submitted first, so that it is counted
            # as work in flight before the original can delete the message.
            self._invoker.submit(event)
        self._invoker.submit(event, on_done=lambda: self._delete(receipt))

    def _delete(self, receipt: str) -> None:
        self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=receipt)


def _keys(event: dict) -> list[str]:
    """The object keys an S3 notification names, as sent (URL-encoded), for the log."""
    return [str(r.get("s3", {}).get("object", {}).get("key")) for r in event.get("Records", []) if isinstance(r, dict)]
