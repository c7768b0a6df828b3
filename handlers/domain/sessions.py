"""Sessions as the API sees them: create, load for its owner, and describe."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from handlers import contract, layout
from handlers.domain.errors import BadRequest, NotFound
from handlers.domain.store import Item, SessionStore, window_numbers


def create_session(
    user_id: str,
    capture_mode: str,
    *,
    store: SessionStore,
    retention_days: int,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> dict[str, Any]:
    if capture_mode not in contract.CAPTURE_MODES:
        raise BadRequest(f"captureMode: must be one of {', '.join(contract.CAPTURE_MODES)}")
    now = store.now()
    item = {
        "sessionId": new_id(),
        "userId": user_id,
        "captureMode": capture_mode,
        "status": contract.STATUS_RECORDING,
        "createdAt": datetime.fromtimestamp(now, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        # TTL attribute: the row expires with the objects (the bucket's lifecycle rule uses the same retention).
        contract.TTL_ATTRIBUTE: int(now) + retention_days * 86400,
    }
    store.create(item)
    return {key: item[key] for key in ("sessionId", "captureMode", "status", "createdAt")}


def load_owned(session_id: str, user_id: str, store: SessionStore) -> Item:
    """The session, if it exists and belongs to the caller; otherwise NotFound, never saying which. An id we never mint
    is not looked up: DynamoDB refuses an empty key or one over 2 KB with a ValidationException (moto does not)."""
    item = store.get(session_id) if layout.is_session_id(session_id) else None
    if item is None or item.get("userId") != user_id:
        raise NotFound("session not found")
    return item


def recorded_windows(item: Item) -> set[int]:
    """Windows whose every half has arrived: the audio, and for audio_video sessions the frames too."""
    audio = set(window_numbers(item, "completedAudioWindows"))
    if item.get("captureMode") == "audio_video":
        return audio & set(window_numbers(item, "completedFrameWindows"))
    return audio


def missing_windows(item: Item) -> list[int]:
    expected = item.get("expectedWindowCount")
    if expected is None:
        return []
    recorded = recorded_windows(item)
    return [w for w in range(int(expected)) if w not in recorded]


def unexpected_windows(item: Item) -> list[int]:
    """Windows recorded at or above the expected count: kept, but not part of the session."""
    expected = item.get("expectedWindowCount")
    if expected is None:
        return []
    audio = set(window_numbers(item, "completedAudioWindows")) | set(window_numbers(item, "completedFrameWindows"))
    return sorted(w for w in audio if w >= int(expected))


def status_body(item: Item) -> dict[str, Any]:
    expected = item.get("expectedWindowCount")
    return {
        "sessionId": item["sessionId"],
        "captureMode": item["captureMode"],
        "status": item["status"],
        "createdAt": item["createdAt"],
        "completedAudioWindows": window_numbers(item, "completedAudioWindows"),
        "completedFrameWindows": window_numbers(item, "completedFrameWindows"),
        "ingestTriggeredWindows": window_numbers(item, "ingestTriggeredWindows"),
        "expectedWindowCount": int(expected) if expected is not None else None,
        # Both are unknown (empty) until the client says how many windows it recorded.
        "missingWindows": missing_windows(item),
        "unexpectedWindows": unexpected_windows(item),
    }


def session_status(session_id: str, user_id: str, store: SessionStore) -> dict[str, Any]:
    return status_body(load_owned(session_id, user_id, store))
