"""Sessions as the API sees them: create, load for its owner, and describe (status and per-window detail)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from handlers import layout
from handlers.contract import CaptureMode, Status
from handlers.domain.entities import Half, Ranges, Session, Window
from handlers.domain.errors import BadRequest, NotFound
from handlers.domain.ports import SessionRepository


def create_session(
    user_id: str,
    capture_mode: str,
    *,
    store: SessionRepository,
    retention_days: int,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> dict[str, Any]:
    if capture_mode not in {mode.value for mode in CaptureMode}:
        raise BadRequest(f"captureMode: must be one of {', '.join(CaptureMode)}")
    now = store.now()
    session = Session(
        session_id=new_id(),
        user_id=user_id,
        capture_mode=CaptureMode(capture_mode),
        status=Status.RECORDING,
        created_at=datetime.fromtimestamp(now, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        # The TTL: every item of the session expires with its objects (the bucket's lifecycle rule uses the same
        # retention); window items copy it from here.
        expires_at=int(now) + retention_days * 86400,
    )
    store.create(session)
    return {
        "sessionId": session.session_id,
        "captureMode": str(session.capture_mode),
        "status": str(session.status),
        "createdAt": session.created_at,
    }


def load_owned(session_id: str, user_id: str, store: SessionRepository) -> Session:
    """The session, if it exists and belongs to the caller; otherwise NotFound, never saying which. An id we never mint
    is not looked up: DynamoDB refuses an empty key or one over 2 KB with a ValidationException (moto does not)."""
    session = store.get(session_id) if layout.is_session_id(session_id) else None
    if session is None or session.user_id != user_id:
        raise NotFound("session not found")
    return session


def load_owned_window(
    session_id: str, user_id: str, window_index: int, store: SessionRepository
) -> tuple[Session, Window | None]:
    """The caller's session and one of its windows, in one read; NotFound as `load_owned`."""
    session, windows = load_owned_windows(session_id, user_id, [window_index], store)
    return session, windows.get(window_index)


def load_owned_windows(
    session_id: str, user_id: str, window_indexes: Sequence[int], store: SessionRepository
) -> tuple[Session, dict[int, Window]]:
    """The caller's session and those of these windows that exist, by index, in one read; NotFound as `load_owned`."""
    session, windows = (
        store.get_with_windows(session_id, window_indexes) if layout.is_session_id(session_id) else (None, {})
    )
    if session is None or session.user_id != user_id:
        raise NotFound("session not found")
    return session, windows


def status_body(session: Session, windows: Iterable[Window]) -> dict[str, Any]:
    """The status: counts and inclusive ranges, computed in one pass over the window items in window order, so
    neither the body nor the memory it takes grows with contiguous windows."""
    expected = session.expected_window_count
    counts = {"audio": 0, "frames": 0, "recorded": 0, "ingested": 0, "invalid": 0}
    recorded, ingested, missing, invalid, unexpected = Ranges(), Ranges(), Ranges(), Ranges(), Ranges()
    next_expected = 0  # the first window below `expected` not yet seen recorded
    for window in windows:
        counts["audio"] += window.audio is not None
        counts["frames"] += window.frames is not None
        for flag, ranges, name in (
            (window.recorded, recorded, "recorded"),
            (window.ingested, ingested, "ingested"),
            (window.invalid is not None, invalid, "invalid"),
        ):
            if flag:
                counts[name] += 1
                ranges.add(window.index)
        if expected is None:
            continue
        if window.index >= expected:
            if window.halves:
                unexpected.add(window.index)
        elif window.recorded:
            missing.add_span(next_expected, window.index - 1)
            next_expected = window.index + 1
    if expected is not None:
        missing.add_span(next_expected, expected - 1)
    return {
        "sessionId": session.session_id,
        "captureMode": str(session.capture_mode),
        "status": str(session.status),
        "createdAt": session.created_at,
        "expectedWindowCount": expected,
        "counts": counts,
        "recordedWindows": recorded.as_list(),
        "ingestedWindows": ingested.as_list(),
        # Both are unknown (empty) until the client says how many windows it recorded.
        "missingWindows": missing.as_list(),
        "invalidWindows": invalid.as_list(),
        "unexpectedWindows": unexpected.as_list(),
    }


def describe(session: Session, store: SessionRepository) -> dict[str, Any]:
    return status_body(session, store.windows(session.session_id))


def session_status(session_id: str, user_id: str, store: SessionRepository) -> dict[str, Any]:
    return describe(load_owned(session_id, user_id, store), store)


def _half_body(half: Half | None) -> dict[str, Any] | None:
    if half is None:
        return None
    body: dict[str, Any] = {
        "sizeBytes": half.size_bytes,
        "etag": half.etag,
        "checksumSha256": half.checksum_sha256,
        "recordedAt": half.recorded_at,
    }
    if half.frame_count is not None:
        body["frameCount"] = half.frame_count
    if half.wav is not None:
        body["format"] = {
            "sampleRate": half.wav.sample_rate,
            "channels": half.wav.channels,
            "bitsPerSample": half.wav.bits_per_sample,
            "durationSeconds": half.wav.duration_seconds,
        }
    return body


def window_body(window: Window) -> dict[str, Any]:
    return {
        "windowIndex": window.index,
        "audio": _half_body(window.audio),
        "frames": _half_body(window.frames),
        "recorded": window.recorded,
        "ingested": window.ingested,
        "invalid": window.invalid,
    }


def windows_page(session_id: str, user_id: str, start: int, limit: int, store: SessionRepository) -> dict[str, Any]:
    """Per-window detail from window `start` on, in window order; `next` is where the following page starts."""
    load_owned(session_id, user_id, store)
    page = [window_body(w) for w in store.windows(session_id, start=start, limit=limit + 1)]
    more = len(page) > limit
    return {"windows": page[:limit], "next": page[limit]["windowIndex"] if more else None}
