"""The local stack's queue pollers (devstack/polling.py): each of the S3 event relay's and the SessionReady capture's
waits for messages in one long poll rather than asking again and again, each stops at once out of that poll, and the
capture's `details()` still returns every event already delivered, those its thread holds included."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import boto3
import pytest

from devstack.capture import SessionReadyCapture
from devstack.relay import POLLERS, EventRelay
from devstack.servers import MotoServer


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def queue(moto):
    """An SQS client of the moto server and a queue of this test's own."""
    sqs = boto3.session.Session("test", "test", region_name="eu-west-1").client("sqs", endpoint_url=moto.url)
    url = sqs.create_queue(QueueName=f"q-{time.monotonic_ns()}")["QueueUrl"]
    return sqs, url


def receives(sqs) -> list[dict]:
    """The parameters of each ReceiveMessage the client sends, as it sends it."""
    calls: list[dict] = []
    sqs.meta.events.register("provide-client-params.sqs.ReceiveMessage", lambda params, **_: calls.append(params))
    return calls


class Invoker:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def submit(self, event: dict) -> str:
        self.events.append(event)
        return "request"


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


@pytest.mark.parametrize("poller", ["relay", "capture"])
def test_an_idle_poller_waits_in_one_long_poll_and_stops_at_once_out_of_it(queue, poller):
    sqs, url = queue
    calls = receives(sqs)
    stopping = threading.Event()
    started = (EventRelay(sqs, url, Invoker(), stopping) if poller == "relay"
               else SessionReadyCapture(sqs, url, stopping))
    started.start()
    wait_until(lambda: calls, "the poller's first receive")
    time.sleep(1.0)  # short polls (every 0.1 and 0.25 s) sent 4 to 10 receives here
    threads = POLLERS if poller == "relay" else 1  # each of the relay's pollers is in a long poll of its own
    assert [call["WaitTimeSeconds"] for call in calls] == [20] * threads

    stopping.set()
    stopped = time.monotonic()
    started.stop()
    assert time.monotonic() - stopped < 5, "stop waited for the long poll to time out"  # 20 s without the wake


def test_the_relay_hands_an_event_on_as_soon_as_it_arrives_in_its_long_poll(queue):
    sqs, url = queue
    invoker, stopping = Invoker(), threading.Event()
    relay = EventRelay(sqs, url, invoker, stopping)
    relay.start()
    try:
        time.sleep(0.2)  # the relay is in its long poll
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"Records": []}))
        wait_until(lambda: invoker.events, "the event relayed")
        assert invoker.events == [{"Records": []}]
        wait_until(lambda: not sqs.receive_message(QueueUrl=url).get("Messages"), "the message deleted")
    finally:
        stopping.set()
        relay.stop()


def test_details_waits_for_the_events_the_capture_thread_has_received_and_not_yet_kept(queue):
    sqs, url = queue
    stopping, holding, release = threading.Event(), threading.Event(), threading.Event()

    def hold_the_threads_batch(parsed, **_):
        if parsed.get("Messages") and threading.current_thread().name == "devstack-session-ready":
            holding.set()  # the thread has the message (invisible in the queue) and has not kept it
            release.wait(10)

    sqs.meta.events.register("after-call.sqs.ReceiveMessage", hold_the_threads_batch)
    capture = SessionReadyCapture(sqs, url, stopping)
    capture.start()
    try:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"detail": {"sessionId": "s-1"}}))
        assert holding.wait(10)
        answered: list[list[dict]] = []
        reader = threading.Thread(target=lambda: answered.append(capture.details()))
        reader.start()
        time.sleep(0.3)
        assert answered == []  # still waiting for the thread's batch: it would have answered [] at once
        release.set()
        reader.join(10)
        assert answered == [[{"sessionId": "s-1"}]]
        assert capture.details() == [{"sessionId": "s-1"}]  # kept once
    finally:
        release.set()
        stopping.set()
        capture.stop()
