"""A half of a window has arrived: record it, and when the window is whole trigger its ingest exactly once.

Exactly once, under duplicate events, concurrent producers of the two halves, failed invocations and crashes,
rests on the window's own item (DESIGN.md, "Data model"):

1. read the header and the window. A half not recorded yet is read from S3 first (handlers.domain.inspection):
   a half that is not what its key says (not a WAV; a frames bundle of another count) is noted on the window,
   moved to the quarantine prefix and never ingested, so the client may upload it again. A valid half is recorded
   with a write conditional on both items being as read (a StaleRead means another writer got there first: read
   again and decide again);
2. the write that completes the window (the audio, and for audio_video the frames too) is one transaction: the
   window becomes recorded, the header's counter moves by one, and an ingest claim (a lease `{until, token}`) is
   taken on the window. Of two producers only one can complete a window: the other's condition fails;
3. invoke the ingest target asynchronously; on success mark the window ingested and drop the claim; on failure
   release our claim (by token) and raise, so Lambda's retry can claim again at once.

A duplicate event finds its half recorded: if the window is ingested it is done; if it is recorded but not
ingested, it takes the claim over once the lease has expired (the claimant crashed) or finds it live and raises
`WindowClaimInFlight`, so the event is retried. The lease is longer than the function's timeout and shorter than
Lambda's first retry delay. The only way to ingest twice is a claimant that outlives its lease, which the function
timeout forbids, or one that dies in the milliseconds between an accepted invoke and the confirm write; every
ingest request carries (sessionId, windowIndex), so a target can deduplicate that residual case.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from handlers import layout
from handlers.contract import Status
from handlers.domain import completeness
from handlers.domain.entities import Half, Session, Window
from handlers.domain.errors import WindowClaimInFlight
from handlers.domain.inspection import inspect
from handlers.domain.media import Invalid
from handlers.domain.ports import IngestTarget, ObjectStore, ProcessingTrigger, SessionRepository, StaleRead

# Each attempt loses only to a write that made progress on the same window or session, so a few suffice; past
# them the event fails and Lambda retries it.
MAX_ATTEMPTS = 8


class Outcome(enum.Enum):
    IGNORED_KEY = "ignored_key"  # not a key of the layout: never retried
    UNKNOWN_SESSION = "unknown_session"  # no such session: never retried, no item created
    OBJECT_GONE = "object_gone"  # no object at the key any more (quarantined, deleted): never retried
    INVALID = "invalid"  # not what its key says: noted on the window, quarantined, never ingested, never retried
    RECORDED = "recorded"  # recorded, waiting for the window's other half
    INGEST_TRIGGERED = "ingest_triggered"
    ALREADY_TRIGGERED = "already_triggered"


@dataclass(frozen=True)
class ObjectCreated:
    """An object as the S3 event reported it. What is recorded is what S3 holds (HeadObject), not this."""

    key: str
    size: int
    etag: str


@dataclass(frozen=True)
class Pipeline:
    """What the completion path needs: the table, the bucket, the ingest target and the processing trigger."""

    store: SessionRepository
    objects: ObjectStore
    ingest: IngestTarget
    processing: ProcessingTrigger


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def object_created(obj: ObjectCreated, deps: Pipeline) -> Outcome:
    """The completion path for one object of the key layout, either half.

    The object is read from S3 (HeadObject, one ranged GET) only when its half is not recorded yet, and at most
    once per event: a duplicate costs the table read alone.
    """
    parsed = layout.parse_key(obj.key)
    if parsed is None:
        return Outcome.IGNORED_KEY
    store = deps.store
    checked: Half | Invalid | None = None
    for _ in range(MAX_ATTEMPTS):
        session, window = store.get_with_window(parsed.session_id, parsed.window_index)
        if session is None:
            return Outcome.UNKNOWN_SESSION
        window = window or Window(parsed.session_id, parsed.window_index)
        if window.has(parsed.media):
            # A duplicate: finish whatever a failed or crashed delivery of this window left owed.
            outcome = _finish(session, window, deps)
            break
        if checked is None:
            head = deps.objects.head(obj.key)
            if head is None:
                return Outcome.OBJECT_GONE
            checked = inspect(parsed.media, obj.key, head, deps.objects, iso(store.now()))
        if isinstance(checked, Invalid):
            try:
                store.record_invalid(session, window, parsed.media, checked.reason)
            except StaleRead:
                continue
            # Out of the notification's way, so that the client may upload the window again.
            deps.objects.quarantine(obj.key, head.etag)
            return Outcome.INVALID
        try:
            token = store.record_half(session, window, checked)
        except StaleRead:
            continue
        if token is None:
            outcome = Outcome.RECORDED
            break
        outcome = _invoke(session, window.with_half(checked), token, deps)
        if session.status is Status.FINALIZING:
            # Read the counters after our own write: of two concurrent last windows, the later re-read sees both.
            session = store.get(parsed.session_id)
        break
    else:
        raise StaleRead(f"{obj.key}: still contended after {MAX_ATTEMPTS} attempts")
    # Checked on every event, duplicates included: a redelivery must finish what a failed delivery left owed.
    completeness.advance(session, store=store, trigger=deps.processing)
    return outcome


def _finish(session: Session, window: Window, deps: Pipeline) -> Outcome:
    if window.ingested:
        return Outcome.ALREADY_TRIGGERED
    if not window.recorded:
        return Outcome.RECORDED  # its other half has not arrived yet
    token = deps.store.claim_ingest(window.session_id, window.index)
    if token is None:
        current = deps.store.get_window(window.session_id, window.index)
        if current is not None and current.ingested:
            return Outcome.ALREADY_TRIGGERED
        raise WindowClaimInFlight(
            f"session {window.session_id} window {window.index}: another invocation holds the claim"
        )
    return _invoke(session, window, token, deps)


def ingest_request(session: Session, window: Window) -> dict[str, Any]:
    return {
        "sessionId": session.session_id,
        "userId": session.user_id,
        "windowIndex": window.index,
        "frameCount": window.frame_count,
    }


def _invoke(session: Session, window: Window, token: str, deps: Pipeline) -> Outcome:
    """Invoke under our claim, then confirm; or release the claim and raise."""
    try:
        deps.ingest(ingest_request(session, window))
    except Exception:
        deps.store.release_ingest(window.session_id, window.index, token)
        raise
    deps.store.confirm_ingest(window.session_id, window.index)
    return Outcome.INGEST_TRIGGERED
