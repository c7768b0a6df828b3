"""The sweeper heals before it judges: objects whose events were lost go through the completion path, once."""

import threading
from dataclasses import replace

import boto3
import pytest
from moto import mock_aws

from handlers import contract, layout
from handlers.dal.sessions_table import SessionsTable
from handlers.domain import completeness, completion
from handlers.domain.healing import Healer
from handlers.domain.ports import StoredObject
from handlers.domain.sessions import create_session, session_status
from tests.conftest import REGION, create_table
from tests.unit.test_completion import Clock, FakeObjects, RecordingIngest

LEASE = 45
TIMEOUT = 3600


class Listing:
    """The bucket as a listing reports it: objects put here exist; every call is counted."""

    def __init__(self):
        self.objects: dict[str, StoredObject] = {}
        self.calls: list[str] = []

    def put(self, key, size=100):
        self.objects[key] = StoredObject(key, size, f"etag-{len(self.objects)}")

    def __call__(self, prefix):
        self.calls.append(prefix)
        # S3 lists in key order, which is not window order past window 999.
        yield from (self.objects[key] for key in sorted(self.objects) if key.startswith(prefix))


class Env:
    def __init__(self, table):
        self.clock = Clock()
        self.store = SessionsTable(table, self.clock, LEASE)
        self.ingest = RecordingIngest()
        self.trigger = RecordingIngest()
        self.listing = Listing()
        self.objects = FakeObjects()  # what the completion path reads: valid halves unless put otherwise
        self.pipeline = completion.Pipeline(
            store=self.store, objects=self.objects, ingest=self.ingest, processing=self.trigger
        )
        self.time_left = float("inf")

    def session(self, mode="audio_only"):
        return create_session("alice", mode, store=self.store, retention_days=30)["sessionId"]

    def upload(self, sid, window, media=layout.Media.AUDIO, *, event=True, body=None):
        """An object stored (a valid half unless `body` says otherwise); its event delivered, or lost."""
        key = layout.object_key(sid, window, media)
        self.listing.put(key)
        if body is not None:
            self.objects.put(key, body)
        if event:
            obj = self.listing.objects[key]
            completion.object_created(completion.ObjectCreated(obj.key, obj.size, obj.etag), self.pipeline)

    def complete(self, sid, n):
        return completeness.complete_session(sid, "alice", n, store=self.store, trigger=self.trigger)

    def sweep(self, heal=True):
        healer = Healer(self.listing, self.pipeline, time_left=lambda: self.time_left)
        return completeness.sweep(
            store=self.store, trigger=self.trigger, timeout_seconds=TIMEOUT, heal=healer if heal else None
        )

    def status(self, sid):
        return session_status(sid, "alice", self.store)

    def ingested(self, sid):
        return sorted(r["windowIndex"] for r in self.ingest.requests if r["sessionId"] == sid)


@pytest.fixture
def env():
    with mock_aws():
        yield Env(create_table(boto3.resource("dynamodb", region_name=REGION)))


def test_lost_events_are_healed_before_the_timeout_judgement_and_the_session_is_ready_once(env):
    sid = env.session()
    for window in range(5):
        env.upload(sid, window, event=window in (0, 3))
    env.complete(sid, 5)
    env.clock.now += TIMEOUT + 1

    report = env.sweep()

    assert report.healed == {sid: [1, 2, 4]} and report.windows_healed == 3
    assert report.marked_incomplete == [] and report.failed == []
    assert env.status(sid)["status"] == "ready"
    assert env.ingested(sid) == [0, 1, 2, 3, 4]  # each window once
    assert [d["sessionId"] for d in env.trigger.requests] == [sid]
    assert env.sweep().healed == {} and env.ingested(sid) == [0, 1, 2, 3, 4]


def test_a_heal_that_cannot_fill_every_gap_records_what_exists_then_judges_the_rest_incomplete(env):
    sid = env.session()
    env.upload(sid, 0)
    env.upload(sid, 2, event=False)  # lost
    env.complete(sid, 4)  # windows 1 and 3 never uploaded
    env.clock.now += TIMEOUT + 1

    report = env.sweep()

    assert (report.healed, report.marked_incomplete) == ({sid: [2]}, [sid])
    body = env.status(sid)
    assert (body["status"], body["recordedWindows"], body["missingWindows"]) == (
        "incomplete", [[0, 0], [2, 2]], [[1, 1], [3, 3]])
    assert env.ingested(sid) == [0, 2] and env.trigger.requests == []


def test_no_listing_before_the_timeout_nor_for_a_session_whose_counters_are_complete(env):
    waiting, whole = env.session(), env.session()
    env.upload(waiting, 0, event=False)
    env.complete(waiting, 1)
    env.upload(whole, 0)
    env.complete(whole, 1)
    assert env.sweep().healed == {} and env.listing.calls == []  # not past the timeout
    env.clock.now += TIMEOUT + 1
    env.sweep()
    assert env.listing.calls == [layout.session_prefix(waiting)]  # the ready one is off the index


def test_only_halves_of_the_layout_not_yet_recorded_go_through_the_completion_path(env, monkeypatch):
    sid = env.session()
    env.upload(sid, 0)
    env.upload(sid, 1, event=False)
    prefix = layout.session_prefix(sid)
    for foreign in (f"{prefix}window_0002/audio.wav", f"{prefix}notes.txt", f"{prefix}window_003/audio.wav.tmp"):
        env.listing.put(foreign)
    env.complete(sid, 2)
    env.clock.now += TIMEOUT + 1
    run = []
    object_created = completion.object_created
    monkeypatch.setattr(completion, "object_created", lambda obj, deps: run.append(obj.key) or object_created(obj, deps))

    report = env.sweep()

    assert run == [layout.audio_key(sid, 1)]
    assert report.healed == {sid: [1]} and env.ingested(sid) == [0, 1]


def test_an_audio_video_window_whose_frames_event_was_lost_is_recorded_by_the_heal(env):
    sid = env.session("audio_video")
    env.upload(sid, 0)
    env.upload(sid, 0, layout.Media.FRAMES, event=False)
    env.complete(sid, 1)
    assert env.status(sid)["recordedWindows"] == []
    env.clock.now += TIMEOUT + 1

    assert env.sweep().healed == {sid: [0]}
    body = env.status(sid)
    assert (body["status"], body["counts"]["frames"], body["counts"]["ingested"]) == ("ready", 1, 1)


def test_an_invalid_half_whose_event_was_lost_is_refused_by_the_heal_as_by_its_event(env):
    sid = env.session()
    env.upload(sid, 0)
    env.upload(sid, 1, event=False, body=b"not a WAV at all")
    env.complete(sid, 2)
    env.clock.now += TIMEOUT + 1

    report = env.sweep()

    assert (report.healed, report.marked_incomplete) == ({sid: [1]}, [sid])
    assert env.objects.quarantined == [layout.audio_key(sid, 1)]
    body = env.status(sid)
    assert (body["invalidWindows"], body["missingWindows"]) == ([[1, 1]], [[1, 1]])
    assert env.ingested(sid) == [0]


def test_a_heal_that_fails_judges_nothing_and_the_next_run_heals_once(env):
    sid = env.session()
    env.upload(sid, 0, event=False)
    env.upload(sid, 1, event=False)
    env.complete(sid, 2)
    env.clock.now += TIMEOUT + 1
    env.ingest.failures.append(RuntimeError("ingest unavailable"))

    report = env.sweep()

    assert report.failed == [sid] and report.marked_incomplete == []
    assert env.status(sid)["status"] == "finalizing"
    assert env.status(sid)["recordedWindows"] == [[0, 0]] and env.ingested(sid) == []  # recorded, ingest owed
    assert env.sweep().healed == {sid: [0, 1]}  # the owed ingest too: a heal has no retry but the next heal
    assert env.status(sid)["status"] == "ready" and env.ingested(sid) == [0, 1]


def test_a_finalizing_session_whose_counters_are_complete_is_healed_of_its_owed_ingest_before_it_is_ready(env):
    sid = env.session()
    env.complete(sid, 1)
    env.ingest.failures.append(RuntimeError("ingest unavailable"))
    with pytest.raises(RuntimeError):
        env.upload(sid, 0)  # recorded (the last window), its invoke failed, and its retries are lost
    env.clock.now += TIMEOUT + 1

    report = env.sweep()

    assert (report.healed, report.triggered) == ({sid: [0]}, [])  # ready, and triggered, by the completion path
    assert env.status(sid)["status"] == "ready" and env.ingested(sid) == [0]
    assert len(env.trigger.requests) == 1


def test_a_sessions_windows_are_healed_side_by_side_and_the_last_one_it_needs_once_the_others_are(env, monkeypatch):
    sid = env.session()
    for window in range(5):
        env.upload(sid, window, event=False)
    env.complete(sid, 5)
    env.clock.now += TIMEOUT + 1
    together = threading.Barrier(4, timeout=10)  # breaks, failing the heal, unless windows 0-3 are in flight at once
    ended, ended_before_the_last = [], []
    object_created = completion.object_created

    def heal(obj, deps):
        window = layout.parse_key(obj.key).window_index
        if window == 4:
            ended_before_the_last.append(sorted(ended))
        else:
            together.wait()
        try:
            return object_created(obj, deps)
        finally:
            ended.append(window)

    monkeypatch.setattr(completion, "object_created", heal)

    report = env.sweep()

    assert report.healed == {sid: [0, 1, 2, 3, 4]} and report.failed == []
    assert ended_before_the_last == [[0, 1, 2, 3]]
    assert env.status(sid)["status"] == "ready" and env.ingested(sid) == [0, 1, 2, 3, 4]
    assert len(env.trigger.requests) == 1


def test_a_window_whose_heal_fails_leaves_the_session_short_of_its_last_window_until_the_next_heal(env):
    # Healed side by side, window 1's ingest refused: had window 3 been healed too, the session would be ready with
    # window 1's ingest owed, and a ready session is never healed again.
    sid = env.session()
    for window in range(4):
        env.upload(sid, window, event=False)
    env.complete(sid, 4)
    env.clock.now += TIMEOUT + 1
    refused = {1}

    def ingest(request):
        if request["windowIndex"] in refused:
            raise RuntimeError("ingest unavailable")
        env.ingest(request)

    env.pipeline = replace(env.pipeline, ingest=ingest)

    report = env.sweep()

    assert report.failed == [sid] and report.marked_incomplete == []
    body = env.status(sid)
    missing = {w for first, last in body["missingWindows"] for w in range(first, last + 1)}
    assert body["status"] == "finalizing" and 3 in missing  # kept back
    assert 1 not in missing and 1 not in env.ingested(sid)  # recorded, its ingest owed
    refused.clear()
    assert {1, 3} <= set(env.sweep().healed[sid])
    assert env.status(sid)["status"] == "ready" and env.ingested(sid) == [0, 1, 2, 3]
    assert len(env.trigger.requests) == 1


def test_out_of_time_the_heal_stops_before_an_object_and_leaves_the_sessions_for_the_next_run(env):
    first, second = env.session(), env.session()
    for sid in (first, second):
        env.upload(sid, 0, event=False)
        env.complete(sid, 1)
    env.clock.now += TIMEOUT + 1
    env.time_left = 1.0  # below the heal's margin

    report = env.sweep()

    assert sorted(report.deferred) == sorted([first, second]) and report.marked_incomplete == []
    assert report.healed == {} and env.ingest.requests == []
    env.time_left = float("inf")
    assert set(env.sweep().healed) == {first, second}


def test_without_a_heal_the_sweeper_judges_on_the_counters_alone(env):
    sid = env.session()
    env.upload(sid, 0, event=False)
    env.complete(sid, 1)
    env.clock.now += TIMEOUT + 1
    assert env.sweep(heal=False).marked_incomplete == [sid]


def test_every_function_that_claims_ingest_finishes_inside_the_claim_lease():
    # The exactly-once argument (handlers/domain/completion.py) needs a claimant dead before its lease expires; the
    # sweeper claims too, when it heals.
    for timeout in (contract.COMPLETION_FUNCTION_TIMEOUT_SECONDS, contract.SWEEPER_FUNCTION_TIMEOUT_SECONDS):
        assert timeout < contract.DEFAULT_INGEST_CLAIM_LEASE_SECONDS
