"""Exactly-once ingest per window: duplicates, both producers, failed invokes, crashes, transient errors."""

import uuid
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from handlers import layout
from handlers.domain import completion
from handlers.domain.completion import ObjectCreated, Outcome
from handlers.domain.errors import WindowClaimInFlight
from handlers.domain.sessions import create_session
from handlers.domain.store import SessionStore
from tests.conftest import REGION, create_table

LEASE = 45


class Clock:
    def __init__(self, now=1_800_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


class RecordingIngest:
    """An ingest target that records accepted requests, and can be told to fail its next calls."""

    def __init__(self):
        self.requests = []
        self.failures = []

    def __call__(self, request):
        if self.failures:
            raise self.failures.pop(0)
        self.requests.append(request)


class SimulatedCrash(BaseException):
    """A process killed mid-invocation: no `except Exception` runs, so nothing is rolled back."""


@pytest.fixture
def env():
    with mock_aws():
        table = create_table(boto3.resource("dynamodb", region_name=REGION))
        clock = Clock()
        yield SessionStore(table, clock), clock, RecordingIngest()


def new_session(store, mode="audio_only"):
    return create_session("alice", mode, store=store, retention_days=30)["sessionId"]


def pipeline(store, ingest):
    return completion.Pipeline(store=store, ingest=ingest, processing=RecordingIngest(), lease_seconds=LEASE)


def audio_event(store, ingest, session_id, window, size=2048):
    obj = ObjectCreated(layout.audio_key(session_id, window), size, f"etag-{window}")
    return completion.audio_window_created(obj, pipeline(store, ingest))


def frames_event(store, ingest, session_id, window, frames=1800):
    return completion.frames_window_completed(session_id, window, frames, pipeline(store, ingest))


def test_audio_only_window_is_recorded_and_ingested_once_despite_duplicates(env):
    store, _, ingest = env
    sid = new_session(store)
    assert audio_event(store, ingest, sid, 3) is Outcome.INGEST_TRIGGERED
    assert audio_event(store, ingest, sid, 3) is Outcome.ALREADY_TRIGGERED
    assert audio_event(store, ingest, sid, 3) is Outcome.ALREADY_TRIGGERED
    assert ingest.requests == [{"sessionId": sid, "userId": "alice", "windowIndex": 3, "frameCount": 0}]
    item = store.get(sid)
    assert item["completedAudioWindows"] == {3}
    assert item["ingestTriggeredWindows"] == {3}
    assert item["audioWindows"]["3"]["sizeBytes"] == 2048
    assert item["audioWindows"]["3"]["etag"] == "etag-3"
    assert item["ingestClaims"] == {}


def test_audio_video_window_waits_for_both_halves_in_either_order(env):
    store, _, ingest = env
    sid = new_session(store, "audio_video")
    assert audio_event(store, ingest, sid, 0) is Outcome.RECORDED
    assert frames_event(store, ingest, sid, 0, frames=1799) is Outcome.INGEST_TRIGGERED
    assert frames_event(store, ingest, sid, 1) is Outcome.RECORDED
    assert audio_event(store, ingest, sid, 1) is Outcome.INGEST_TRIGGERED
    assert audio_event(store, ingest, sid, 1) is Outcome.ALREADY_TRIGGERED
    assert [(r["windowIndex"], r["frameCount"]) for r in ingest.requests] == [(0, 1799), (1, 1800)]


def test_frames_alone_never_trigger_ingest_of_a_window_without_audio(env):
    store, _, ingest = env
    sid = new_session(store, "audio_only")
    assert frames_event(store, ingest, sid, 0) is Outcome.RECORDED
    assert ingest.requests == []
    assert audio_event(store, ingest, sid, 0) is Outcome.INGEST_TRIGGERED


def test_key_outside_the_layout_is_ignored_and_writes_nothing(env):
    store, _, ingest = env
    sid = new_session(store)
    for key in ("uploads/x.wav", f"sessions/{sid}/window_001/video.mp4", f"sessions/{sid}/window_0001/audio.wav"):
        assert (
            completion.audio_window_created(ObjectCreated(key, 1, "e"), pipeline(store, ingest)) is Outcome.IGNORED_KEY
        )
    assert "completedAudioWindows" not in store.get(sid)
    assert ingest.requests == []


def test_window_of_an_unknown_session_creates_no_item(env):
    store, _, ingest = env
    ghost = str(uuid.uuid4())
    assert audio_event(store, ingest, ghost, 0) is Outcome.UNKNOWN_SESSION
    assert frames_event(store, ingest, ghost, 0) is Outcome.UNKNOWN_SESSION
    assert store.get(ghost) is None
    assert ingest.requests == []


def test_failed_invoke_rolls_back_the_claim_so_the_redelivery_ingests_once(env):
    store, _, ingest = env
    sid = new_session(store)
    ingest.failures.append(RuntimeError("Lambda throttled the invoke"))
    with pytest.raises(RuntimeError):
        audio_event(store, ingest, sid, 5)
    item = store.get(sid)
    assert item["completedAudioWindows"] == {5} and "ingestTriggeredWindows" not in item
    assert item["ingestClaims"] == {}  # rolled back: the retry need not wait for the lease
    assert audio_event(store, ingest, sid, 5) is Outcome.INGEST_TRIGGERED
    assert audio_event(store, ingest, sid, 5) is Outcome.ALREADY_TRIGGERED
    assert len(ingest.requests) == 1


def test_crash_between_claim_and_invoke_does_not_strand_the_window(env):
    store, clock, ingest = env
    sid = new_session(store)
    ingest.failures.append(SimulatedCrash())
    with pytest.raises(SimulatedCrash):
        audio_event(store, ingest, sid, 2)
    # A redelivery inside the lease cannot know the claimant is dead: it raises, so it is retried later.
    clock.now += LEASE - 1
    with pytest.raises(WindowClaimInFlight):
        audio_event(store, ingest, sid, 2)
    # Lambda's next retry comes after the lease has expired: it takes the claim over.
    clock.now += 2
    assert audio_event(store, ingest, sid, 2) is Outcome.INGEST_TRIGGERED
    assert audio_event(store, ingest, sid, 2) is Outcome.ALREADY_TRIGGERED
    assert [r["windowIndex"] for r in ingest.requests] == [2]


def test_a_stale_claimant_cannot_release_the_claim_that_took_over(env):
    store, clock, _ = env
    sid = new_session(store)
    first = store.claim_ingest(sid, 1, LEASE)
    clock.now += LEASE + 1
    second = store.claim_ingest(sid, 1, LEASE)
    assert second.token != first.token
    store.release_ingest(sid, 1, first.token)  # the stale claimant's rollback
    assert store.get(sid)["ingestClaims"]["1"]["token"] == second.token


def test_transient_dynamodb_errors_propagate_and_nothing_is_invoked(env):
    store, _, ingest = env
    sid = new_session(store)
    throttle = ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "UpdateItem"
    )
    with mock.patch.object(store._table, "update_item", side_effect=throttle):
        with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
            audio_event(store, ingest, sid, 0)
    assert ingest.requests == []
    assert audio_event(store, ingest, sid, 0) is Outcome.INGEST_TRIGGERED  # the retry succeeds


def test_throttled_confirm_after_a_successful_invoke_is_raised(env):
    store, _, ingest = env
    sid = new_session(store)
    throttle = ClientError({"Error": {"Code": "ThrottlingException", "Message": "x"}}, "UpdateItem")
    with mock.patch.object(store, "confirm_ingest", side_effect=throttle):
        with pytest.raises(ClientError):
            audio_event(store, ingest, sid, 0)
    # The claim still holds: a redelivery inside the lease does not ingest a second time.
    with pytest.raises(WindowClaimInFlight):
        audio_event(store, ingest, sid, 0)
    assert len(ingest.requests) == 1
