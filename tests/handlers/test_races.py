"""Concurrent producers against a moto server whose DynamoDB requests are serialized, as real DynamoDB's
conditional writes are atomic: one ingest per window, whatever the interleaving."""

import threading
import time

import boto3
import pytest

from devstack.servers import MotoServer
from handlers import layout
from handlers.domain import completeness, completion
from handlers.domain.errors import WindowClaimInFlight
from handlers.domain.sessions import create_session
from handlers.domain.store import ClaimOutcome, SessionStore
from tests.conftest import REGION, create_table

WINDOWS = 4
COPIES = 3  # each half of each window delivered three times: S3 and the frames producer both redeliver


@pytest.fixture(scope="module")
def table():
    server = MotoServer()
    server.start()
    try:
        resource = boto3.resource(
            "dynamodb",
            region_name=REGION,
            endpoint_url=server.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        yield create_table(resource, "races")
    finally:
        server.stop()


class CountingIngest:
    def __init__(self):
        self.lock = threading.Lock()
        self.windows = []

    def __call__(self, request):
        time.sleep(0.005)  # widen the claim-to-confirm gap, where a second claimant would slip in
        with self.lock:
            self.windows.append((request["sessionId"], request["windowIndex"]))


class CountingReady:
    def __init__(self):
        self.lock = threading.Lock()
        self.sessions = []

    def __call__(self, detail):
        time.sleep(0.005)
        with self.lock:
            self.sessions.append(detail["sessionId"])


def deliver_until_handled(produce):
    """Lambda's async retry: an invocation that raised is delivered again."""
    for _ in range(200):
        try:
            return produce()
        except WindowClaimInFlight:
            time.sleep(0.01)
    raise AssertionError("never handled")


@pytest.mark.parametrize("mode", ["audio_only", "audio_video"])
def test_concurrent_producers_trigger_one_ingest_per_window(table, mode):
    store = SessionStore(table, clock=time.time)
    ingest = CountingIngest()
    sid = create_session("alice", mode, store=store, retention_days=1)["sessionId"]
    deps = completion.Pipeline(store=store, ingest=ingest, processing=CountingReady(), lease_seconds=45)

    def audio(window):
        obj = completion.ObjectCreated(layout.audio_key(sid, window), 2048, "etag")
        return completion.audio_window_created(obj, deps)

    def frames(window):
        return completion.frames_window_completed(sid, window, 1800, deps)

    producers = [(audio, w) for w in range(WINDOWS) for _ in range(COPIES)]
    if mode == "audio_video":
        producers += [(frames, w) for w in range(WINDOWS) for _ in range(COPIES)]
    start = threading.Barrier(len(producers))
    outcomes = []

    def run(produce, window):
        start.wait()
        outcomes.append(deliver_until_handled(lambda: produce(window)))

    threads = [threading.Thread(target=run, args=p) for p in producers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(outcomes) == len(producers)
    assert sorted(ingest.windows) == [(sid, w) for w in range(WINDOWS)]
    item = store.get(sid)
    assert item["ingestTriggeredWindows"] == set(range(WINDOWS))
    assert item["completedAudioWindows"] == set(range(WINDOWS))
    assert item["ingestClaims"] == {}
    assert outcomes.count(completion.Outcome.INGEST_TRIGGERED) == WINDOWS


def test_sixteen_simultaneous_claims_of_one_window_have_one_winner(table):
    store = SessionStore(table, clock=time.time)
    sid = create_session("alice", "audio_only", store=store, retention_days=1)["sessionId"]
    start = threading.Barrier(16)
    claims = []

    def claim():
        start.wait()
        claims.append(store.claim_ingest(sid, 0, lease_seconds=45).outcome)

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert claims.count(ClaimOutcome.CLAIMED) == 1
    assert claims.count(ClaimOutcome.IN_FLIGHT) == 15


def test_concurrent_last_windows_make_the_session_ready_once(table):
    store = SessionStore(table, clock=time.time)
    ingest, ready = CountingIngest(), CountingReady()
    deps = completion.Pipeline(store=store, ingest=ingest, processing=ready, lease_seconds=45)
    sid = create_session("alice", "audio_only", store=store, retention_days=1)["sessionId"]
    completeness.complete_session(sid, "alice", 8, store=store, trigger=ready, lease_seconds=45)
    start = threading.Barrier(16)

    def last_window(window):  # every window arrives at once, each twice: all of them are "the last"
        start.wait()
        obj = completion.ObjectCreated(layout.audio_key(sid, window), 2048, "etag")
        deliver_until_handled(lambda: completion.audio_window_created(obj, deps))

    threads = [threading.Thread(target=last_window, args=(w % 8,)) for w in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert ready.sessions == [sid]
    assert store.get(sid)["status"] == "ready"
    assert sorted(w for _, w in ingest.windows) == list(range(8))
