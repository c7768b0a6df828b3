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
import time
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger("devstack")

WAIT_SECONDS = 20  # SQS's longest poll
WAKE_BODY = "devstack: stopping"  # the message that ends a poller's long poll; a poller that receives it drops it
ROUND_SECONDS = 0.25


def receive(sqs: Any, queue_url: str, *, wait: bool = True) -> list[dict]:
    """Up to 10 messages: the first to arrive within WAIT_SECONDS, or none; without `wait`, those there now."""
    return sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=WAIT_SECONDS if wait else 0
    ).get("Messages", [])


def stop(pollers: Sequence[threading.Thread], sqs: Any, queue_url: str) -> None:
    """Once the stack's `stopping` is set: the long polls of `pollers`, the threads reading `queue_url`, ended by
    messages, and the threads joined. Each round sends one message per poller still waiting and gives them ROUND_SECONDS
    to leave: a poller may take several of the messages in one receive, leaving another waiting for the next round. A
    moto already gone has ended the polls too. (One message and a one-second join per poller in turn took a stack's
    stop 2 to 3 s, whichever poller took the message: 14 stops, 32 s of a `make test` run.)"""
    while waiting := [poller for poller in pollers if poller.is_alive()]:
        for _ in waiting:
            try:
                sqs.send_message(QueueUrl=queue_url, MessageBody=WAKE_BODY)
            except (BotoCoreError, ClientError) as error:
                log.debug("waking a poller of %s: %s", queue_url, error)
        deadline = time.monotonic() + ROUND_SECONDS
        for poller in waiting:
            poller.join(max(0.0, deadline - time.monotonic()))
