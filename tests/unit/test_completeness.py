"""Session completeness: ready exactly once, in any order of complete and windows; gaps swept to incomplete."""

import json
from dataclasses import replace

import boto3
import pytest
from moto import mock_aws

from handlers import contract, layout
from handlers.contract import CaptureMode, Status
from handlers.dal.processing import AwsProcessingTrigger
from handlers.dal.sessions_table import SessionsTable
from handlers.domain import completeness, completion
from handlers.domain.entities import Session
from handlers.domain.errors import Conflict, NotFound
from handlers.domain.processing import session_ready_detail
from handlers.domain.sessions import create_session, session_status
from tests.conftest import REGION, create_table
from tests.unit.test_completion import Clock, FakeObjects, RecordingIngest

LEASE = 45
TIMEOUT = 3600


class Env:
    def __init__(self, table):
        self.clock = Clock()
        self.store = SessionsTable(table, self.clock, LEASE)
        self.ingest = RecordingIngest()
        self.trigger = RecordingIngest()  # records SessionReady details, fails when told
        self.deps = completion.Pipeline(self.store, FakeObjects(), self.ingest, self.trigger)

    def session(self, mode="audio_only"):
        return create_session("alice", mode, store=self.store, retention_days=30)["sessionId"]

    def window(self, sid, w):
        obj = completion.ObjectCreated(layout.audio_key(sid, w), 100, "e")
        return completion.object_created(obj, self.deps)

    def frames(self, sid, w):
        obj = completion.ObjectCreated(layout.frames_key(sid, w), 100, "f")
        return completion.object_created(obj, self.deps)

    def complete(self, sid, n, user="alice"):
        return completeness.complete_session(sid, user, n, store=self.store, trigger=self.trigger)

    def sweep(self):
        return completeness.sweep(store=self.store, trigger=self.trigger, timeout_seconds=TIMEOUT)

    def status(self, sid):
        return session_status(sid, "alice", self.store)


@pytest.fixture
def env():
    with mock_aws():
        yield Env(create_table(boto3.resource("dynamodb", region_name=REGION)))


def test_complete_before_the_windows_waits_then_the_last_window_makes_it_ready_once(env):
    sid = env.session()
    body = env.complete(sid, 3).body
    assert (body["status"], body["expectedWindowCount"], body["missingWindows"]) == ("finalizing", 3, [[0, 2]])
    env.window(sid, 2)
    env.window(sid, 0)
    assert env.status(sid)["status"] == "finalizing" and env.trigger.requests == []
    env.window(sid, 1)
    assert env.status(sid)["status"] == "ready"
    env.window(sid, 1)  # a duplicate of the last window
    assert [d["sessionId"] for d in env.trigger.requests] == [sid]
    assert env.trigger.requests[0] == {
        "sessionId": sid,
        "userId": "alice",
        "captureMode": "audio_only",
        "windowCount": 3,
        "windows": [[0, 2]],
        "keyPrefix": f"sessions/{sid}/",
        "keyTemplates": {"audio": f"sessions/{sid}/window_{{windowIndex:03d}}/audio.wav"},
    }
    assert [env.trigger.requests[0]["keyTemplates"]["audio"].format(windowIndex=w) for w in range(3)] == [
        layout.audio_key(sid, w) for w in range(3)
    ]


def test_complete_after_every_window_is_ready_at_once(env):
    sid = env.session()
    for w in range(4):
        env.window(sid, w)
    body = env.complete(sid, 4).body
    assert (body["status"], body["missingWindows"]) == ("ready", [])
    assert len(env.trigger.requests) == 1


def test_complete_between_windows(env):
    sid = env.session()
    env.window(sid, 0)
    assert env.complete(sid, 2).body["missingWindows"] == [[1, 1]]
    env.window(sid, 1)
    assert env.status(sid)["status"] == "ready" and len(env.trigger.requests) == 1


def test_an_empty_session_is_ready_on_complete(env):
    sid = env.session()
    assert env.complete(sid, 0).body["status"] == "ready"
    assert (env.trigger.requests[0]["windowCount"], env.trigger.requests[0]["windows"]) == (0, [])


def test_complete_is_idempotent_for_the_same_count_and_refuses_another(env):
    sid = env.session()
    first = env.complete(sid, 5).body
    assert env.complete(sid, 5).body == first
    with pytest.raises(Conflict, match="expectedWindowCount"):
        env.complete(sid, 4)
    assert env.status(sid)["expectedWindowCount"] == 5


@pytest.mark.parametrize("final", ["ready", "incomplete"])
def test_complete_on_a_ready_or_incomplete_session_is_a_conflict(env, final):
    sid = env.session()
    if final == "ready":
        env.window(sid, 0)
        env.complete(sid, 1)
    else:
        env.complete(sid, 1)
        env.clock.now += TIMEOUT + 1
        env.sweep()
    assert env.status(sid)["status"] == final
    with pytest.raises(Conflict, match=final):
        env.complete(sid, 1)


def test_complete_belongs_to_the_owner(env):
    sid = env.session()
    with pytest.raises(NotFound):
        env.complete(sid, 1, user="mallory")
    assert env.status(sid)["status"] == "recording"


def test_windows_at_or_above_the_count_are_recorded_but_listed_as_unexpected(env):
    sid = env.session()
    for w in (0, 1, 5):
        env.window(sid, w)
    body = env.complete(sid, 2).body
    assert (body["status"], body["unexpectedWindows"], body["recordedWindows"]) == ("ready", [[5, 5]], [[0, 1], [5, 5]])
    env.window(sid, 7)
    assert env.status(sid)["unexpectedWindows"] == [[5, 5], [7, 7]]
    assert len(env.trigger.requests) == 1


def test_audio_video_sessions_are_ready_when_frames_are_recorded_too(env):
    sid = env.session("audio_video")
    env.window(sid, 0)
    assert env.complete(sid, 1).body["missingWindows"] == [[0, 0]]
    env.frames(sid, 0)
    assert env.status(sid)["status"] == "ready" and len(env.trigger.requests) == 1


def test_the_sweeper_marks_gaps_incomplete_after_the_timeout_with_the_exact_missing_list(env):
    sid = env.session()
    for w in (0, 2, 5):
        env.window(sid, w)
    env.complete(sid, 7)
    env.clock.now += TIMEOUT - 1
    assert env.sweep().marked_incomplete == []
    env.clock.now += 2
    assert env.sweep().marked_incomplete == [sid]
    body = env.status(sid)
    assert (body["status"], body["missingWindows"]) == ("incomplete", [[1, 1], [3, 4], [6, 6]])
    assert env.store.get(sid).missing_count == 4
    assert env.sweep().marked_incomplete == []  # off the index for good
    env.window(sid, 1)  # a straggler is still recorded, and changes nothing else
    assert env.status(sid)["status"] == "incomplete" and env.trigger.requests == []


def test_the_sweeper_leaves_recording_sessions_alone(env):
    sid = env.session()
    env.clock.now += 10 * TIMEOUT
    assert env.sweep().marked_incomplete == []
    assert env.status(sid)["status"] == "recording"


def test_a_window_arriving_after_the_sweeper_read_wins(env):
    sid = env.session()
    env.complete(sid, 2)
    seen = env.store.get(sid)
    env.window(sid, 0)
    assert env.store.mark_incomplete(seen) is False
    assert env.status(sid)["status"] == "finalizing"


def test_a_failed_trigger_on_complete_still_answers_and_the_sweeper_delivers_it_once(env):
    sid = env.session()
    env.window(sid, 0)
    env.trigger.failures.append(RuntimeError("EventBridge unavailable"))
    result = env.complete(sid, 1)
    assert result.body["status"] == "ready" and isinstance(result.trigger_error, RuntimeError)
    assert env.trigger.requests == []
    assert env.sweep().triggered == [sid]  # not waiting for the timeout: a ready session is owed at once
    assert env.sweep().triggered == []
    assert len(env.trigger.requests) == 1


def test_a_failed_trigger_on_the_last_window_raises_and_the_redelivery_delivers_it_once(env):
    sid = env.session()
    env.complete(sid, 1)
    env.trigger.failures.append(RuntimeError("EventBridge unavailable"))
    with pytest.raises(RuntimeError):
        env.window(sid, 0)
    assert env.status(sid)["status"] == "ready"
    env.window(sid, 0)  # Lambda's retry of the same event
    env.window(sid, 0)
    assert len(env.trigger.requests) == 1 and len(env.ingest.requests) == 1


def test_the_session_ready_event_has_the_same_size_at_any_length():
    def detail(count):
        session = Session(
            "6f1c1f4e-4b7a-4c49-9b1e-0e0c4f8a2b11", "u" * 128, CaptureMode.AUDIO_VIDEO, Status.READY, "2027", 0, count
        )
        return json.dumps(session_ready_detail(session))

    sizes = {len(detail(n)) - len(str(n)) - len(str(max(n - 1, 0))) for n in (1, 60, 10_000, layout.MAX_WINDOW_INDEX + 1)}
    assert len(sizes) == 1  # only the digits of the count and the last index change
    entry = {"Source": contract.PROCESSING_EVENT_SOURCE, "DetailType": contract.PROCESSING_EVENT_DETAIL_TYPE}
    assert len(detail(layout.MAX_WINDOW_INDEX + 1)) + sum(map(len, entry.values())) < 1024


def test_the_readiness_of_a_header_is_a_comparison_of_two_numbers():
    base = Session("s", "u", CaptureMode.AUDIO_ONLY, Status.FINALIZING, "2027", 0, 10)
    assert replace(base, recorded_count=10).complete
    # Twelve recorded, three of them at or above the count: windows 0..9 lack one.
    twelve = replace(base, recorded_count=12, unexpected_count=3)
    assert not twelve.complete and twelve.missing_count == 1
    assert replace(twelve, unexpected_count=2).complete
    assert not replace(base, expected_window_count=None, recorded_count=10).complete


def test_the_aws_trigger_puts_session_ready_on_the_bus_and_starts_one_execution():
    with mock_aws():
        events = boto3.client("events", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        sfn = boto3.client("stepfunctions", region_name=REGION)
        events.create_event_bus(Name="processing")
        queue = sqs.create_queue(QueueName="ready")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(
            Name="ready",
            EventBusName="processing",
            EventPattern=json.dumps(
                {"source": [contract.PROCESSING_EVENT_SOURCE], "detail-type": [contract.PROCESSING_EVENT_DETAIL_TYPE]}
            ),
        )
        events.put_targets(Rule="ready", EventBusName="processing", Targets=[{"Id": "q", "Arn": queue_arn}])
        machine = sfn.create_state_machine(
            name="process",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
        trigger = AwsProcessingTrigger(events, "processing", sfn, machine)
        detail = {"sessionId": "6f1c1f4e-4b7a-4c49-9b1e-0e0c4f8a2b11", "userId": "u", "windowCount": 1}
        trigger(detail)
        trigger(detail)  # a repeated delivery: the execution already exists, which counts as success
        executions = sfn.list_executions(stateMachineArn=machine)["executions"]
        assert [e["name"] for e in executions] == [detail["sessionId"]]
        message = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1)["Messages"][0]
        delivered = json.loads(message["Body"])
        assert delivered["detail-type"] == "SessionReady" and delivered["detail"] == detail


def test_a_status_body_does_not_grow_with_contiguous_windows():
    from handlers.domain.entities import Half, Window
    from handlers.domain.sessions import status_body

    def body(count):
        session = Session("s", "u", CaptureMode.AUDIO_ONLY, Status.FINALIZING, "2027", 0, count, count)
        half = Half(layout.Media.AUDIO, 1, "e", "t")
        windows = (Window("s", w, {layout.Media.AUDIO: half}, recorded=True, ingested=True) for w in range(count))
        return json.dumps(status_body(session, windows))

    # 10 and 100,000 windows: only the digits of three counts, the expected count and two ranges' last index differ.
    assert len(body(100_000)) - len(body(10)) == 4 * len("100000") - 4 * len("10") + 2 * (len("99999") - len("9"))
    assert len(body(100_000)) < 1024
