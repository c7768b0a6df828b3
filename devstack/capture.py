"""The processing consumer's stand-in: SessionReady events drained from the queue the processing bus's rule targets."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from devstack import polling

log = logging.getLogger("devstack")


class SessionReadyCapture:
    """Keeps every SessionReady event's detail, in arrival order, and logs one line for each as it arrives.

    A background thread long-polls the queue so that `make dev` shows events live. `details()` drains the queue
    too, and waits for the messages the thread has received and not yet kept, so a caller sees every event already
    delivered (moto delivers a rule's SQS target within PutEvents).
    """

    def __init__(self, sqs: Any, queue_url: str, stopping: threading.Event):
        self._sqs = sqs
        self._queue_url = queue_url
        self._stopping = stopping
        self._details: list[dict] = []
        # Held while messages are kept (each kept and deleted once); notified when the thread has kept a batch.
        self._kept = threading.Condition()
        self._thread = threading.Thread(target=self._poll, name="devstack-session-ready", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Once the stack's `stopping` is set: the poll ended now, the thread joined."""
        polling.stop([self._thread], self._sqs, self._queue_url)

    def details(self) -> list[dict]:
        with self._kept:
            while True:
                while messages := polling.receive(self._sqs, self._queue_url, wait=False):
                    self._keep(messages)
                # Received by the thread and not yet kept: invisible until it deletes them, under this lock.
                if not self._in_flight():
                    return list(self._details)
                self._kept.wait(0.1)

    def _in_flight(self) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def _poll(self) -> None:
        while not self._stopping.is_set():
            try:
                messages = polling.receive(self._sqs, self._queue_url)
                with self._kept:
                    self._keep(messages)
                    self._kept.notify_all()
            except Exception:  # noqa: BLE001 - keep capturing; moto may be going away while we stop
                if not self._stopping.is_set():
                    log.exception("receiving SessionReady events failed")
                    self._stopping.wait(0.5)

    def _keep(self, messages: list[dict]) -> None:
        for message in messages:
            if message["Body"] != polling.WAKE_BODY:
                detail = json.loads(message["Body"])["detail"]
                self._details.append(detail)
                log.info(
                    "SessionReady: session %s of %s, %s windows",
                    detail.get("sessionId"), detail.get("userId"), detail.get("windowCount"),
                )
            self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
