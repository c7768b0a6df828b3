"""The processing consumer's stand-in: SessionReady events drained from the queue the processing bus's rule targets."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

log = logging.getLogger("devstack")

POLL_INTERVAL_SECONDS = 0.25


class SessionReadyCapture:
    """Keeps every SessionReady event's detail, in arrival order, and logs one line for each as it arrives.

    A background thread drains the queue so that `make dev` shows events live; `details()` drains it too, so a
    caller sees every event already delivered (moto delivers a rule's SQS target within PutEvents) without
    waiting for the next poll.
    """

    def __init__(self, sqs: Any, queue_url: str, stopping: threading.Event):
        self._sqs = sqs
        self._queue_url = queue_url
        self._stopping = stopping
        self._details: list[dict] = []
        self._lock = threading.Lock()  # one drain at a time: a message is received, kept and deleted once
        self._thread = threading.Thread(target=self._poll, name="devstack-session-ready", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        if self._thread.is_alive():
            self._thread.join()

    def details(self) -> list[dict]:
        self._drain()
        with self._lock:
            return list(self._details)

    def _poll(self) -> None:
        while not self._stopping.wait(POLL_INTERVAL_SECONDS):
            try:
                self._drain()
            except Exception:  # noqa: BLE001 - keep capturing; moto may be going away while we stop
                if not self._stopping.is_set():
                    log.exception("receiving SessionReady events failed")

    def _drain(self) -> None:
        with self._lock:
            while messages := self._sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            ):
                for message in messages:
                    detail = json.loads(message["Body"])["detail"]
                    self._details.append(detail)
                    log.info(
                        "SessionReady: session %s of %s, %s windows",
                        detail.get("sessionId"), detail.get("userId"), detail.get("windowCount"),
                    )
                    self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
