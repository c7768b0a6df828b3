"""How the local stack's pollers read their SQS queues: long polls, which moto answers as soon as a message arrives
(each queue wakes its waiting receives when a message is added), ended at once by a message when the stack stops.

Short polls cost each stack about 14 requests a second while it idled (the relay every 0.1 s, the SessionReady
capture every 0.25 s), each signed and parsed by botocore and dispatched by moto. In a `make test` run, where each
pytest worker keeps its stack for the whole run, the pollers' side alone was 6 % of the CPU samples; an idle stack
used 1.25 s of CPU in 10 s, and 0.12 s with long polls.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger("devstack")

WAIT_SECONDS = 20  # SQS's longest poll
WAKE_BODY = "devstack: stopping"  # the message that ends a poller's long poll; a poller that receives it drops it


def receive(sqs: Any, queue_url: str, *, wait: bool = True) -> list[dict]:
    """Up to 10 messages: the first to arrive within WAIT_SECONDS, or none; without `wait`, those there now."""
    return sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=WAIT_SECONDS if wait else 0
    ).get("Messages", [])


def stop(poller: threading.Thread, sqs: Any, queue_url: str) -> None:
    """Once the stack's `stopping` is set: the poller's long poll ended by a message, and the poller joined (woken
    again should another reader of the queue have taken the message). A moto already gone has ended the poll too."""
    while poller.is_alive():
        try:
            sqs.send_message(QueueUrl=queue_url, MessageBody=WAKE_BODY)
        except (BotoCoreError, ClientError) as error:
            log.debug("waking the poller of %s: %s", queue_url, error)
        poller.join(1.0)
