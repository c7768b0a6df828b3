"""The event relay: S3 notifications from the queue to the completion function, with Lambda's async semantics
(2 retries, then the on-failure destination: the DLQ)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from devstack import polling
from devstack.runtime import AsyncInvoker, error_type

log = logging.getLogger("devstack")


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
        "responsePayload": {"errorMessage": str(error), "errorType": error_type(error)},
    }


POLLERS = 4


class EventRelay:
    """Polls the notification queue; each S3 event goes to the completion function's async invoker, and its
    message is deleted once the invoker has it. The queue stands for S3's delivery to Lambda, the invoker for
    Lambda's event queue: a backlog waits in the invoker, and the queue stays short (moto scans it whole on every
    send, receive and delete). `POLLERS` threads poll at once, each its own receive and delete: one alone, whose two
    requests a batch wait behind every other request of a busy moto, fell behind S3's events, and the queue's growth
    then made each of moto's sends slower still (in `bench.load --sessions 20`, 72 % of moto's time went to
    those sends' scans)."""

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
        self._threads = [threading.Thread(target=self._poll, name=f"devstack-relay-{n}", daemon=True)
                         for n in range(POLLERS)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Once the stack's `stopping` is set: the polls ended now, the threads joined."""
        polling.stop(self._threads, self._sqs, self._queue_url)

    def _poll(self) -> None:
        while not self._stopping.is_set():
            try:
                messages = polling.receive(self._sqs, self._queue_url)
                if messages and not self._stopping.is_set():
                    self.relay(messages)
            except Exception:  # noqa: BLE001 - keep relaying; moto may be going away while we stop
                # A batch not deleted comes back once its visibility times out: a duplicate, as S3 sometimes sends.
                if not self._stopping.is_set():
                    log.exception("relaying S3 events failed")
                    self._stopping.wait(0.5)

    def relay(self, messages: list[dict]) -> None:
        """Each message's event to the invoker, then the messages deleted in one request: Lambda has accepted the
        events into its own queue, and S3's delivery is done. Deleted after the submits, so that each event counts
        as work in flight before it leaves the queue (DevStack.wait_idle)."""
        for message in messages:
            self._submit(message["Body"])
        self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=[
            {"Id": str(n), "ReceiptHandle": message["ReceiptHandle"]} for n, message in enumerate(messages)
        ])

    def _submit(self, body: str) -> None:
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        if not isinstance(event, dict) or event.get("Event") == "s3:TestEvent":
            return  # S3 posts a test event when the notification is configured; a Lambda target never sees one.
        if self._drop():
            log.info("S3 event dropped (devstack fault): %s", _keys(event))
            return
        if self._duplicate():
            self._invoker.submit(event)  # a second, independent async invocation of the same event
        self._invoker.submit(event)


def _keys(event: dict) -> list[str]:
    """The object keys an S3 notification names, as sent (URL-encoded), for the log."""
    return [str(r.get("s3", {}).get("object", {}).get("key")) for r in event.get("Records", []) if isinstance(r, dict)]
