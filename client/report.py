"""A session's status as a small table for people (window lists shown as ranges)."""

from __future__ import annotations

from typing import Any


def ranges(windows: list[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> "0-2, 5, 7-8 (6)"; [] -> "none"."""
    if not windows:
        return "none"
    spans: list[list[int]] = []
    for window in sorted(windows):
        if spans and window == spans[-1][1] + 1:
            spans[-1][1] = window
        else:
            spans.append([window, window])
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
    return f"{text} ({len(windows)})"


def status_table(status: dict[str, Any]) -> str:
    expected = status.get("expectedWindowCount")
    rows = [
        ("session", status.get("sessionId", "?")),
        ("status", status.get("status", "?")),
        ("capture mode", status.get("captureMode", "?")),
        ("created", status.get("createdAt", "?")),
        ("audio recorded", ranges(status.get("completedAudioWindows", []))),
        ("frames recorded", ranges(status.get("completedFrameWindows", []))),
        ("ingest triggered", ranges(status.get("ingestTriggeredWindows", []))),
        ("expected windows", "not yet known" if expected is None else str(expected)),
        ("missing", ranges(status.get("missingWindows", []))),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
