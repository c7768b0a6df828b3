"""Concurrent producers against a moto server whose DynamoDB requests are serialized, as real DynamoDB's
conditional writes are atomic: one ingest per window, whatever the interleaving."""

import threading
import time

import boto3
import pytest

from devstack.servers import MotoServer
from handlers import layout
from handlers.dal.sessions_table import SessionsTable
from handlers.domain import completeness, completion
from handlers.domain.entities import Half, Window
from handlers.domain.errors import Conflict, WindowClaimInFlight
from handlers.domain.ports import StaleRead
from handlers.domain.sessions import create_session, session_status
from tests.conftest import REGION, create_table
from tests.unit.test_completion import FakeObjects

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
        except (WindowClaimInFlight, StaleRead):
            time.sleep(0.01)
    raise AssertionError("never handled")


@pytest.mark.parametrize("mode", ["audio_only", "audio_video"])
def test_concurrent_producers_trigger_one_ingest_per_window(table, mode):
    store = SessionsTable(table, time.time, lease_seconds=45)
    ingest = CountingIngest()
    sid = create_session("alice", mode, store=store, retention_days=1)["sessionId"]
    deps = completion.Pipeline(store=store, objects=FakeObjects(), ingest=ingest, processing=CountingReady())

    def audio(window):
        obj = completion.ObjectCreated(layout.audio_key(sid, window), 2048, "etag")
        return completion.object_created(obj, deps)

    def frames(window):
        obj = completion.ObjectCreated(layout.frames_key(sid, window), 4096, "etag")
        return completion.object_created(obj, deps)

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
    windows = list(store.windows(sid))
    assert [(w.index, w.recorded, w.ingested, w.claim_token) for w in windows] == [
        (w, True, True, None) for w in range(WINDOWS)
    ]
    assert store.get(sid).recorded_count == WINDOWS  # the counter moved once per window, whatever the copies
    assert outcomes.count(completion.Outcome.INGEST_TRIGGERED) == WINDOWS


@pytest.mark.parametrize("first", ["a refusal of the same half", "the other half"])
def test_a_window_read_as_absent_is_never_overwritten_by_the_half_that_creates_it(table, first):
    store = SessionsTable(table, time.time, lease_seconds=45)
    sid = create_session("alice", "audio_video", store=store, retention_days=1)["sessionId"]
    session, absent = store.get(sid), Window(sid, 0)  # both producers read the window before it was stored
    if first == "the other half":
        assert store.record_half(session, absent, Half(layout.Media.FRAMES, 4096, "f", "2027-01-01T00:00:00.000Z")) is None
    else:
        store.record_invalid(session, absent, layout.Media.AUDIO, "not a WAV file")
    stored = store.get_window(sid, 0)
    with pytest.raises(StaleRead):
        store.record_half(session, absent, Half(layout.Media.AUDIO, 2048, "a", "2027-01-01T00:00:00.000Z"))
    assert store.get_window(sid, 0) == stored and stored.stored
    assert store.get(sid).recorded_count == 0


def test_sixteen_simultaneous_takeovers_of_an_expired_claim_have_one_winner(table):
    crashed = SessionsTable(table, time.time, lease_seconds=0)  # its claim expires at once
    store = SessionsTable(table, time.time, lease_seconds=45)
    sid = create_session("alice", "audio_only", store=store, retention_days=1)["sessionId"]
    half = Half(layout.Media.AUDIO, 2048, "etag", "2027-01-01T00:00:00.000Z")
    assert crashed.record_half(store.get(sid), Window(sid, 0), half) is not None  # recorded, claimed, then "died"
    time.sleep(0.01)
    start = threading.Barrier(16)
    claims = []

    def claim():
        start.wait()
        claims.append(store.claim_ingest(sid, 0))

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(claims) == 16 and claims.count(None) == 15


def test_concurrent_last_windows_make_the_session_ready_once(table):
    store = SessionsTable(table, time.time, lease_seconds=45)
    ingest, ready = CountingIngest(), CountingReady()
    deps = completion.Pipeline(store=store, objects=FakeObjects(), ingest=ingest, processing=ready)
    sid = create_session("alice", "audio_only", store=store, retention_days=1)["sessionId"]
    completeness.complete_session(sid, "alice", 8, store=store, trigger=ready)
    start = threading.Barrier(16)

    def last_window(window):  # every window arrives at once, each twice: all of them are "the last"
        start.wait()
        obj = completion.ObjectCreated(layout.audio_key(sid, window), 2048, "etag")
        deliver_until_handled(lambda: completion.object_created(obj, deps))

    threads = [threading.Thread(target=last_window, args=(w % 8,)) for w in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert ready.sessions == [sid]
    assert store.get(sid).status == "ready" and store.get(sid).recorded_count == 8
    assert sorted(w for _, w in ingest.windows) == list(range(8))


@pytest.mark.parametrize("mode", ["audio_only", "audio_video"])
def test_the_last_two_windows_racing_with_complete_between_them_ready_once(table, mode):
    """Windows 0..5 are in; the last two windows' halves race each other and `complete`, twice each."""
    store = SessionsTable(table, time.time, lease_seconds=45)
    ingest, ready = CountingIngest(), CountingReady()
    deps = completion.Pipeline(store=store, objects=FakeObjects(), ingest=ingest, processing=ready)
    sid = create_session("alice", mode, store=store, retention_days=1)["sessionId"]
    keys = [layout.audio_key] + ([layout.frames_key] if mode == "audio_video" else [])
    for window in range(6):
        for key in keys:
            completion.object_created(completion.ObjectCreated(key(sid, window), 2048, "etag"), deps)

    def deliver(key):
        obj = completion.ObjectCreated(key, 2048, "etag")
        deliver_until_handled(lambda: completion.object_created(obj, deps))

    def complete():
        try:
            deliver_until_handled(lambda: completeness.complete_session(sid, "alice", 8, store=store, trigger=ready))
        except Conflict:  # the other complete, or the last window, readied it first: complete refuses a ready one
            assert store.get(sid).status == "ready"

    jobs = [(deliver, (key(sid, w),)) for w in (6, 7) for key in keys for _ in range(2)] + [(complete, ())] * 2
    start = threading.Barrier(len(jobs))

    def run(job, args):
        start.wait()
        job(*args)

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert ready.sessions == [sid]
    session = store.get(sid)
    assert (session.status, session.recorded_count, session.unexpected_count) == ("ready", 8, 0)
    assert session_status(sid, "alice", store)["recordedWindows"] == [[0, 7]]
    assert sorted(w for _, w in ingest.windows) == list(range(8))
