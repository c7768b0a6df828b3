"""A window's object exists: record it, then trigger ingest exactly once per window.

Exactly once, under duplicate events, concurrent producers and failed invocations, rests on a claim lease in
the session item (`ingestClaims[window] = {until, token}`) and the set `ingestTriggeredWindows`:

1. record the window (conditional on the session existing; returns the whole new item);
2. if the window is ready for ingest (audio_only, or its frames are complete too), claim it: a conditional
   write that succeeds only when the window is not triggered and no unexpired claim holds it;
3. invoke the ingest target asynchronously; on success add the window to `ingestTriggeredWindows` and drop
   the claim; on failure release our claim (by token) and raise, so Lambda's retry can claim again at once.

A claimant that crashes or times out between 2 and 3 leaves a claim that expires after the lease (longer than
the function timeout, shorter than Lambda's first retry delay), so the redelivered event takes it over. A
claim found held and unexpired raises `WindowClaimInFlight`: the event is retried, and either finds the window
triggered (done) or the claim expired (takes it over). The only way to ingest twice is a claimant that
outlives its lease, which the function timeout forbids, or one that dies in the milliseconds between an accepted
invoke and the confirm write; every ingest request carries (sessionId, windowIndex), so a target can deduplicate
that residual case.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from handlers import layout
from handlers.domain import completeness
from handlers.domain.errors import WindowClaimInFlight
from handlers.domain.processing import ProcessingTrigger
from handlers.domain.sessions import recorded_windows
from handlers.domain.store import ClaimOutcome, Item, SessionStore, window_numbers


class Outcome(enum.Enum):
    IGNORED_KEY = "ignored_key"  # not a key of the layout: never retried
    UNKNOWN_SESSION = "unknown_session"  # no such session: never retried, no item created
    RECORDED = "recorded"  # recorded, waiting for the window's other half
    INGEST_TRIGGERED = "ingest_triggered"
    ALREADY_TRIGGERED = "already_triggered"


class IngestTarget(Protocol):
    def __call__(self, request: dict[str, Any]) -> None:
        """Hand one ingest request over asynchronously; raise if it was not accepted."""


class LambdaIngestTarget:
    """Invokes the ingest function asynchronously (InvocationType=Event): accepted means queued by Lambda."""

    def __init__(self, lambda_client: Any, function_name: str):
        self._client = lambda_client
        self._function_name = function_name

    def __call__(self, request: dict[str, Any]) -> None:
        response = self._client.invoke(
            FunctionName=self._function_name, InvocationType="Event", Payload=json.dumps(request).encode()
        )
        if response.get("StatusCode") != 202:
            raise RuntimeError(f"ingest invoke not accepted: status {response.get('StatusCode')}")


@dataclass(frozen=True)
class ObjectCreated:
    key: str
    size: int
    etag: str


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ingest_request(item: Item, window: int) -> dict[str, Any]:
    frames = item.get("frameWindows", {}).get(str(window), {})
    return {
        "sessionId": item["sessionId"],
        "userId": item["userId"],
        "windowIndex": window,
        "frameCount": int(frames.get("frameCount", 0)),
    }


def trigger_ingest_once(
    item: Item, window: int, store: SessionStore, ingest: IngestTarget, lease_seconds: int
) -> Outcome:
    """Claim, invoke, confirm; or release and raise. See the module docstring for why this is exactly once."""
    session_id = item["sessionId"]
    claim = store.claim_ingest(session_id, window, lease_seconds)
    if claim.outcome is ClaimOutcome.ALREADY_TRIGGERED:
        return Outcome.ALREADY_TRIGGERED
    if claim.outcome is ClaimOutcome.NO_SESSION:
        return Outcome.UNKNOWN_SESSION
    if claim.outcome is ClaimOutcome.IN_FLIGHT:
        raise WindowClaimInFlight(f"session {session_id} window {window}: another invocation holds the claim")
    try:
        ingest(_ingest_request(item, window))
    except Exception:
        store.release_ingest(session_id, window, claim.token)
        raise
    store.confirm_ingest(session_id, window)
    return Outcome.INGEST_TRIGGERED


def _after_record(item: Item | None, window: int, deps: Pipeline) -> Outcome:
    if item is None:
        return Outcome.UNKNOWN_SESSION
    if window in window_numbers(item, "ingestTriggeredWindows"):
        outcome = Outcome.ALREADY_TRIGGERED
    elif window not in recorded_windows(item):  # its other half has not arrived yet
        outcome = Outcome.RECORDED
    else:
        outcome = trigger_ingest_once(item, window, deps.store, deps.ingest, deps.lease_seconds)
    # Checked on every event, duplicates included: a redelivery must finish what a failed delivery left owed.
    completeness.advance(item, store=deps.store, trigger=deps.processing, lease_seconds=deps.lease_seconds)
    return outcome


@dataclass(frozen=True)
class Pipeline:
    """What the completion path needs: the table, the ingest target, the processing trigger and the claim lease."""

    store: SessionStore
    ingest: IngestTarget
    processing: ProcessingTrigger
    lease_seconds: int


def audio_window_created(obj: ObjectCreated, deps: Pipeline) -> Outcome:
    """The completion path for one audio object."""
    parsed = layout.parse_audio_key(obj.key)
    if parsed is None:
        return Outcome.IGNORED_KEY
    item = deps.store.record_audio(parsed.session_id, parsed.window_index, obj.size, obj.etag, _iso(deps.store.now()))
    return _after_record(item, parsed.window_index, deps)


def frames_window_completed(session_id: str, window: int, frame_count: int, deps: Pipeline) -> Outcome:
    """The completion path for one window's video frames, called by the frames producer of audio_video sessions."""
    item = deps.store.record_frames(session_id, window, frame_count, _iso(deps.store.now()))
    return _after_record(item, window, deps)
