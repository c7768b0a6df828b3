"""Exactly-once ingest per window: duplicates, both producers, failed invokes, crashes, transient errors."""

import uuid
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from devstack import samples
from handlers import contract, layout
from handlers.dal.sessions_table import SessionsTable
from handlers.domain import completion
from handlers.domain.completion import ObjectCreated, Outcome
from handlers.domain.errors import WindowClaimInFlight
from handlers.domain.ports import ObjectHead
from handlers.domain.sessions import create_session
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


class FakeObjects:
    """The bucket as the completion path reads it, in memory. A key never put holds a valid half (a short WAV, or a
    bundle of `DEFAULT_FRAMES` frames declaring as many), so events can be sent without uploading first."""

    DEFAULT_FRAMES = 30

    def __init__(self):
        self.objects = {}  # key -> (bytes, metadata)
        self.quarantined = []

    def put(self, key, body, frame_count=None):
        metadata = {} if frame_count is None else {contract.FRAME_COUNT_METADATA: str(frame_count)}
        self.objects[key] = (body, metadata)

    def _object(self, key):
        if key not in self.objects and key not in self.quarantined:
            media = layout.parse_key(key).media
            if media is layout.Media.AUDIO:
                self.put(key, samples.wav_bytes())
            else:
                self.put(key, samples.frames_zip(self.DEFAULT_FRAMES), self.DEFAULT_FRAMES)
        return self.objects.get(key)

    def head(self, key):
        found = self._object(key)
        if found is None:
            return None
        body, metadata = found
        return ObjectHead(len(body), f'"{hash(body) & 0xFFFFFFFF:08x}"', None, metadata)

    def read(self, key, byte_range):
        body, _ = self.objects[key]
        first, _, last = byte_range.removeprefix("bytes=").partition("-")
        return body[-int(last):] if first == "" else body[int(first) : int(last) + 1]

    def quarantine(self, key, etag):
        self.objects.pop(key)
        self.quarantined.append(key)
        return layout.quarantine_key(key, etag)


class SimulatedCrash(BaseException):
    """A process killed mid-invocation: no `except Exception` runs, so nothing is rolled back."""


@pytest.fixture
def env():
    with mock_aws():
        table = create_table(boto3.resource("dynamodb", region_name=REGION))
        clock = Clock()
        yield SessionsTable(table, clock, LEASE), clock, RecordingIngest()


def new_session(store, mode="audio_only"):
    return create_session("alice", mode, store=store, retention_days=30)["sessionId"]


def pipeline(store, ingest, objects=None):
    return completion.Pipeline(store=store, objects=objects or FakeObjects(), ingest=ingest, processing=RecordingIngest())


def audio_event(store, ingest, session_id, window, size=2048):
    obj = ObjectCreated(layout.audio_key(session_id, window), size, f"etag-{window}")
    return completion.object_created(obj, pipeline(store, ingest))


def frames_event(store, ingest, session_id, window, frames=1800):
    objects = FakeObjects()
    key = layout.frames_key(session_id, window)
    objects.put(key, samples.frames_zip(frames), frames)
    return completion.object_created(ObjectCreated(key, 0, ""), pipeline(store, ingest, objects))


def test_audio_only_window_is_recorded_and_ingested_once_despite_duplicates(env):
    store, _, ingest = env
    sid = new_session(store)
    assert audio_event(store, ingest, sid, 3) is Outcome.INGEST_TRIGGERED
    assert audio_event(store, ingest, sid, 3) is Outcome.ALREADY_TRIGGERED
    assert audio_event(store, ingest, sid, 3) is Outcome.ALREADY_TRIGGERED
    assert ingest.requests == [{"sessionId": sid, "userId": "alice", "windowIndex": 3, "frameCount": 0}]
    window = store.get_window(sid, 3)
    assert window.recorded and window.ingested and window.claim_token is None
    wav = samples.wav_bytes()
    assert window.audio.size_bytes == len(wav)  # what S3 holds (HeadObject), not what the event said
    assert (window.audio.wav.sample_rate, window.audio.wav.channels, window.audio.wav.bits_per_sample) == (16000, 1, 16)
    assert store.get(sid).recorded_count == 1  # the counter moved once, duplicates or not


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
        assert completion.object_created(ObjectCreated(key, 1, "e"), pipeline(store, ingest)) is Outcome.IGNORED_KEY
    assert list(store.windows(sid)) == [] and store.get(sid).recorded_count == 0
    assert ingest.requests == []


def test_window_of_an_unknown_session_creates_no_item(env):
    store, _, ingest = env
    ghost = str(uuid.uuid4())
    assert audio_event(store, ingest, ghost, 0) is Outcome.UNKNOWN_SESSION
    assert frames_event(store, ingest, ghost, 0) is Outcome.UNKNOWN_SESSION
    assert store.get(ghost) is None and list(store.windows(ghost)) == []
    assert ingest.requests == []


def test_failed_invoke_rolls_back_the_claim_so_the_redelivery_ingests_once(env):
    store, _, ingest = env
    sid = new_session(store)
    ingest.failures.append(RuntimeError("Lambda throttled the invoke"))
    with pytest.raises(RuntimeError):
        audio_event(store, ingest, sid, 5)
    window = store.get_window(sid, 5)
    assert window.recorded and not window.ingested
    assert window.claim_token is None  # rolled back: the retry need not wait for the lease
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
    store, clock, ingest = env
    sid = new_session(store)
    ingest.failures.append(SimulatedCrash())
    with pytest.raises(SimulatedCrash):
        audio_event(store, ingest, sid, 1)
    first = store.get_window(sid, 1).claim_token  # taken by the write that recorded the window
    assert store.claim_ingest(sid, 1) is None  # live
    clock.now += LEASE + 1
    second = store.claim_ingest(sid, 1)
    assert second is not None and second != first
    store.release_ingest(sid, 1, first)  # the stale claimant's rollback
    assert store.get_window(sid, 1).claim_token == second


def test_a_claim_is_never_taken_on_a_window_that_is_not_recorded(env):
    store, _, ingest = env
    sid = new_session(store, "audio_video")
    assert audio_event(store, ingest, sid, 0) is Outcome.RECORDED
    assert store.claim_ingest(sid, 0) is None
    assert store.claim_ingest(sid, 9) is None and store.get_window(sid, 9) is None  # no item created


def test_transient_dynamodb_errors_propagate_and_nothing_is_invoked(env):
    store, _, ingest = env
    sid = new_session(store)
    throttle = ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "UpdateItem"
    )
    with mock.patch.object(store._table.meta.client, "transact_write_items", side_effect=throttle):
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


WAV = samples.wav_bytes()
ZIP = samples.frames_zip(5)
HALF_CASES = {
    "truncated WAV": (layout.Media.AUDIO, WAV[: len(WAV) // 2], None, "truncated"),
    "WAV with no data chunk": (layout.Media.AUDIO, WAV[:36], None, "no data chunk"),
    "random bytes": (layout.Media.AUDIO, bytes(range(256)) * 8, None, "not a RIFF/WAVE file"),
    "an MP3 named audio.wav": (layout.Media.AUDIO, b"ID3\x04\x00\x00" + bytes(2000), None, "not a RIFF/WAVE file"),
    "a ZIP with one entry too few": (layout.Media.FRAMES, ZIP, 6, "5 entries, declared 6"),
    "a frames object that is no ZIP": (layout.Media.FRAMES, WAV, 5, ""),
    "a frames object without its frame count": (layout.Media.FRAMES, ZIP, None, "no frame count"),
}


@pytest.mark.parametrize("case", HALF_CASES, ids=list(HALF_CASES))
def test_a_refused_half_is_noted_quarantined_never_ingested_and_the_window_can_be_uploaded_again(env, case):
    store, _, ingest = env
    media, body, frame_count, reason = HALF_CASES[case]
    sid = new_session(store, "audio_video")
    objects = FakeObjects()
    key = layout.object_key(sid, 4, media)
    objects.put(key, body, frame_count)
    deps = pipeline(store, ingest, objects)
    other = layout.object_key(sid, 4, layout.Media.FRAMES if media is layout.Media.AUDIO else layout.Media.AUDIO)
    assert completion.object_created(ObjectCreated(other, 0, ""), deps) is Outcome.RECORDED

    assert completion.object_created(ObjectCreated(key, 0, ""), deps) is Outcome.INVALID
    window = store.get_window(sid, 4)
    assert not window.has(media) and not window.recorded and window.invalid.startswith(f"{media}: ")
    assert reason in window.invalid
    assert objects.quarantined == [key] and key not in objects.objects
    assert completion.object_created(ObjectCreated(key, 0, ""), deps) is Outcome.OBJECT_GONE  # the event again
    assert ingest.requests == [] and store.get(sid).recorded_count == 0

    objects.quarantined.clear()  # the client uploads the window again, valid this time
    valid = (WAV, None) if media is layout.Media.AUDIO else (ZIP, 5)
    objects.put(key, *valid)
    assert completion.object_created(ObjectCreated(key, 0, ""), deps) is Outcome.INGEST_TRIGGERED
    assert completion.object_created(ObjectCreated(key, 0, ""), deps) is Outcome.ALREADY_TRIGGERED
    window = store.get_window(sid, 4)
    assert window.recorded and window.ingested and window.invalid is None
    assert [r["windowIndex"] for r in ingest.requests] == [4] and store.get(sid).recorded_count == 1


def test_the_frame_count_the_object_carries_reaches_ingest(env):
    store, _, ingest = env
    sid = new_session(store, "audio_video")
    assert frames_event(store, ingest, sid, 0, frames=12) is Outcome.RECORDED
    assert audio_event(store, ingest, sid, 0) is Outcome.INGEST_TRIGGERED
    assert ingest.requests == [{"sessionId": sid, "userId": "alice", "windowIndex": 0, "frameCount": 12}]
    assert store.get_window(sid, 0).frames.frame_count == 12


def test_a_duplicate_event_reads_nothing_from_s3(env):
    store, _, ingest = env
    sid = new_session(store)
    objects = FakeObjects()
    deps = pipeline(store, ingest, objects)
    key = layout.audio_key(sid, 0)
    assert completion.object_created(ObjectCreated(key, 0, ""), deps) is Outcome.INGEST_TRIGGERED
    with mock.patch.object(objects, "head", side_effect=AssertionError("read S3 for a recorded half")):
        assert completion.object_created(ObjectCreated(key, 0, ""), deps) is Outcome.ALREADY_TRIGGERED
