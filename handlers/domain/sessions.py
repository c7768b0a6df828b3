"""Sessions as the API sees them: create, load for its owner, and describe."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from handlers import contract
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
    """The session, if it exists and belongs to the caller; otherwise NotFound, never saying which."""
    item = store.get(session_id) if isinstance(session_id, str) and session_id else None
    if item is None or item.get("userId") != user_id:
        raise NotFound("session not found")
    return item


def status_body(item: Item) -> dict[str, Any]:
    audio = window_numbers(item, "completedAudioWindows")
    expected = item.get("expectedWindowCount")
    expected = int(expected) if expected is not None else None
    recorded = set(audio)
    return {
        "sessionId": item["sessionId"],
        "captureMode": item["captureMode"],
        "status": item["status"],
        "createdAt": item["createdAt"],
        "completedAudioWindows": audio,
        "completedFrameWindows": window_numbers(item, "completedFrameWindows"),
        "ingestTriggeredWindows": window_numbers(item, "ingestTriggeredWindows"),
        "expectedWindowCount": expected,
        # Unknown until the client says how many windows it recorded.
        "missingWindows": [w for w in range(expected) if w not in recorded] if expected is not None else [],
    }


def session_status(session_id: str, user_id: str, store: SessionStore) -> dict[str, Any]:
    return status_body(load_owned(session_id, user_id, store))
