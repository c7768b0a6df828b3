"""The SessionReady detail: what a ready session's processing is told, bounded whatever the session's length."""

from __future__ import annotations

from typing import Any

from handlers import layout
from handlers.domain.entities import Session


def session_ready_detail(session: Session) -> dict[str, Any]:
    """A ready session's windows are 0..windowCount-1 by definition: the detail carries the prefix, the count and
    that range, and the halves each window has, never a key per window, so it stays far under EventBridge's and
    Step Functions' 256 KB at any length. Each key derives from handlers.layout."""
    count = session.expected_window_count or 0
    return {
        "sessionId": session.session_id,
        "userId": session.user_id,
        "captureMode": str(session.capture_mode),
        "windowCount": count,
        "windows": [[0, count - 1]] if count else [],
        "keyPrefix": layout.session_prefix(session.session_id),
        # Python format strings of each half's key, e.g. keyTemplates["audio"].format(windowIndex=7).
        "keyTemplates": {
            str(media): layout.session_prefix(session.session_id) + "window_{windowIndex:03d}" + media.suffix
            for media in session.capture_mode.halves
        },
    }
