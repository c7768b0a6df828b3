"""The completion handler killed before each of its AWS calls in turn, then its event redelivered: the end state is
always correct, and the documented residual case (a crash between an accepted request and its confirm write) costs
exactly one repeated request carrying the same identity, never a lost window."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from devstack import s3events
from handlers import contract, layout
from handlers.dal.ingest import LambdaIngestTarget
from handlers.dal.objects import S3Objects
from handlers.dal.processing import AwsProcessingTrigger
from handlers.dal.sessions_table import HEADER_SK, SessionsTable
from handlers.domain import completeness, completion
from tests.conftest import BUCKET, REGION, TABLE, load_handler
from tests.handlers.conftest import Api, LambdaContext, upload

FRAMES = 60  # video frames per window of the audio_video scenarios
MAX_DELIVERIES = 4  # the first delivery and Lambda's two retries are three; one spare shows a retry that loops


class SimulatedCrash(BaseException):
    """The container dies: a BaseException, so no `except Exception` in the handler can catch it and carry on."""


@dataclass
class CrashPoint:
    """Counts the AWS calls made through every wrapped client; the call numbered `crash_at` (1-based) never happens."""

    crash_at: int | None = None
    calls: list[str] = field(default_factory=list)

    def before(self, operation: str) -> None:
        if self.crash_at is not None and len(self.calls) + 1 == self.crash_at:
            raise SimulatedCrash(f"killed before AWS call {len(self.calls) + 1} ({operation})")
        self.calls.append(operation)


class Crashing:
    """A boto3 client or Table resource whose every public method is one AWS call, counted by the crash point."""

    def __init__(self, target: Any, point: CrashPoint):
        self._target = target
        self._point = point

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if name == "meta":  # a Table resource's own client (transactions, batch reads) is counted too
            return SimpleNamespace(client=Crashing(attribute.client, self._point))
        if name.startswith("_") or not callable(attribute) or name == "exceptions":
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self._point.before(name)
            return attribute(*args, **kwargs)

        return call


class RecordingLambda:
    """The ingest function's Invoke API (moto runs no Lambda code without Docker): every accepted request."""

    def __init__(self) -> None:
        self.requests: list[dict] = []

    def invoke(self, FunctionName: str, InvocationType: str, Payload: bytes) -> dict:  # noqa: N803 - boto3's names
        assert InvocationType == "Event"
        self.requests.append(json.loads(Payload))
        return {"StatusCode": 202}


class RecordingEventBus:
    """EventBridge PutEvents: every SessionReady accepted."""

    def __init__(self) -> None:
        self.details: list[dict] = []

    def put_events(self, Entries: list[dict]) -> dict:  # noqa: N803 - boto3's names
        self.details += [json.loads(entry["Detail"]) for entry in Entries]
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(uuid.uuid4())} for _ in Entries]}


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    """The completion handler with its AWS calls wrapped, its ingest target and bus recorded, and a clock to move."""

    module: Any
    point: CrashPoint
    clock: Clock
    lambda_: RecordingLambda
    bus: RecordingEventBus
    pipeline: completion.Pipeline
    lease_seconds: int

    def deliver(self, event: dict) -> int:
        """Deliver an event as Lambda does: again after every error, each retry later than the claim lease (Lambda's
        first retry comes about a minute later, the lease is shorter). The number of deliveries it took."""
        for delivery in range(1, MAX_DELIVERIES + 1):
            try:
                self.module.lambda_handler(event, LambdaContext())
                return delivery
            except Exception:  # noqa: BLE001 - a function error: Lambda retries the event
                self.clock.now += self.lease_seconds + 1
        raise AssertionError(f"event still failing after {MAX_DELIVERIES} deliveries")

    def sweep(self) -> None:
        """The scheduled sweeper, run after the lease: it delivers any SessionReady still owed."""
        self.clock.now += self.lease_seconds + 1
        report = completeness.sweep(
            store=self.pipeline.store,
            trigger=self.pipeline.processing,
            timeout_seconds=contract.DEFAULT_FINALIZING_TIMEOUT_SECONDS,
        )
        assert report.failed == []


@pytest.fixture(scope="module")
def api(aws_module):
    return Api(load_handler("handlers.api.app"))


@pytest.fixture(scope="module")
def module(aws_module):
    return load_handler("handlers.upload_complete.app")


@pytest.fixture(scope="module")
def table(aws_module):
    return boto3.resource("dynamodb", region_name=REGION).Table(TABLE)


def s3_event(session_id: str, *windows: int) -> dict:
    """A direct S3 notification (keys URL-encoded, as S3 sends them) of windows uploaded."""
    return s3events.notification(
        *(s3events.notification_record(BUCKET, upload(layout.audio_key(session_id, w)), etag=f"e{w}") for w in windows)
    )


def bridge_event(session_id: str, window: int) -> dict:
    """An EventBridge "Object Created" event (key raw) of a window uploaded."""
    return s3events.object_created(BUCKET, upload(layout.audio_key(session_id, window)), etag="e")


@dataclass(frozen=True)
class Scenario:
    """A session brought to some state without faults, then one event whose handling is crashed."""

    name: str
    mode: str
    windows: tuple[int, ...]  # the windows the crashed event carries
    transport: str = "s3"
    frames: tuple[int, ...] = ()  # windows whose frames were recorded beforehand (audio_video)
    finalize_with: int | None = None  # expectedWindowCount; windows below it not in `windows` arrive beforehand

    def prepare(self, api: Api, world: World) -> str:
        session_id = api.create(self.mode)
        for window in self.frames:
            world.deliver(s3events.object_created(BUCKET, upload(layout.frames_key(session_id, window), frame_count=FRAMES)))
        if self.finalize_with is not None:
            earlier = [w for w in range(self.finalize_with) if w not in self.windows]
            world.deliver(s3_event(session_id, *earlier))
            status, body = api.call(
                "POST", f"/sessions/{session_id}/complete", body={"expectedWindowCount": self.finalize_with}
            )
            assert (status, body["status"]) == (202, contract.Status.FINALIZING), body
        return session_id

    def event(self, session_id: str) -> dict:
        if self.transport == "eventbridge":
            (window,) = self.windows
            return bridge_event(session_id, window)
        return s3_event(session_id, *self.windows)


SCENARIOS = [
    Scenario("audio_only window", "audio_only", (0,)),
    Scenario("audio_only, two windows in one notification", "audio_only", (3, 4)),
    Scenario(
        "audio_video, last window of a finalizing session (EventBridge)",
        "audio_video",
        (1,),
        "eventbridge",
        frames=(0, 1),
        finalize_with=2,
    ),
]


def residual_repeats(calls: list[str], crash_at: int, request: str) -> int:
    """1 when the crash fell right after an accepted `request` (before its confirm write): the documented case in
    which the redelivery, after the claim lease, repeats the request. 0 otherwise."""
    return int(crash_at >= 2 and calls[crash_at - 2] == request)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_a_crash_before_any_aws_call_then_redelivery_leaves_the_session_correct(api, module, table, scenario, monkeypatch):
    # A clean run first: the handler's AWS calls for this event, in order.
    clean = world_for(module, table, monkeypatch)
    session_id = scenario.prepare(api, clean)
    clean.point.calls.clear()
    clean.deliver(scenario.event(session_id))
    calls = list(clean.point.calls)
    assert "invoke" in calls and (scenario.finalize_with is None or "put_events" in calls), calls

    report = []
    for crash_at in range(1, len(calls) + 2):  # before each call, and after the last (a duplicate delivery)
        world = world_for(module, table, monkeypatch)
        session_id = scenario.prepare(api, world)
        ingested_before = Counter(r["windowIndex"] for r in world.lambda_.requests)
        world.point.calls.clear()
        world.point.crash_at = crash_at
        event = scenario.event(session_id)
        with pytest.raises(SimulatedCrash) if crash_at <= len(calls) else contextlib.nullcontext():
            module.lambda_handler(event, LambdaContext())
        world.point.crash_at = None
        deliveries = world.deliver(event)
        world.sweep()

        where = f"{scenario.name}: crash before call {crash_at} of {calls}"
        item = table.get_item(Key={"sessionId": session_id, "sk": HEADER_SK}, ConsistentRead=True)["Item"]
        windows = {w.index: w for w in SessionsTable(table, time.time, 45).windows(session_id)}
        assert all(windows[w].recorded and windows[w].ingested for w in scenario.windows), where
        assert all(w.claim_token is None for w in windows.values()), where
        assert int(item["recordedCount"]) == len(windows), where  # each window counted once, crashes or not
        requests = [r for r in world.lambda_.requests if r["sessionId"] == session_id]
        ingests = Counter(r["windowIndex"] for r in requests) - ingested_before
        repeated = residual_repeats(calls, crash_at, "invoke")
        crashed_window = _window_being_ingested(calls, crash_at, scenario.windows)
        assert ingests == {w: 1 + (repeated if w == crashed_window else 0) for w in scenario.windows}, where
        assert all(r["frameCount"] == (FRAMES if scenario.mode == "audio_video" else 0) for r in requests), where
        # Every request of a window is the same request: a target deduplicates the residual case on its identity.
        assert all(requests.count(r) == ingests[r["windowIndex"]] for r in requests if r["windowIndex"] in ingests)

        if scenario.finalize_with is not None:
            assert item["status"] == contract.Status.READY, where
            assert "processingTriggeredAt" in item and "processingClaim" not in item, where
            assert contract.PENDING_INDEX_HASH_KEY not in item, where  # off the sweeper's index
            ready = [d for d in world.bus.details if d["sessionId"] == session_id]
            assert len(ready) == 1 + residual_repeats(calls, crash_at, "put_events"), where
            assert all(d == ready[0] for d in ready), where
        report.append(f"{crash_at}:{deliveries}")
    print(f"\n{scenario.name}: {len(calls)} AWS calls {calls}; crash point:deliveries {' '.join(report)}")


def world_for(module: Any, table: Any, monkeypatch: pytest.MonkeyPatch) -> World:
    """A fresh world: the handler's pipeline rebuilt on wrapped clients, nothing recorded, the clock at now."""
    point, clock, lambda_, bus = CrashPoint(), Clock(), RecordingLambda(), RecordingEventBus()
    lease = module.settings.claim_lease_seconds
    pipeline = completion.Pipeline(
        store=SessionsTable(Crashing(table, point), clock, lease),
        objects=S3Objects(Crashing(boto3.client("s3", region_name=REGION), point), BUCKET),
        ingest=LambdaIngestTarget(Crashing(lambda_, point), module.settings.ingest_function_name),
        processing=AwsProcessingTrigger(Crashing(bus, point), "default"),
    )
    monkeypatch.setattr(module, "pipeline", pipeline)
    return World(module, point, clock, lambda_, bus, pipeline, lease)


def _window_being_ingested(calls: list[str], crash_at: int, windows: tuple[int, ...]) -> int | None:
    """The window whose invoke was the last call before the crash (the event's windows are handled in order)."""
    invokes_before = calls[: crash_at - 1].count("invoke")
    return windows[invokes_before - 1] if invokes_before else None
