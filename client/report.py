"""A session's status as a small table for people (window sets are the API's inclusive ranges)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def windows_in(ranges: list[list[int]]) -> Iterator[int]:
    """Every window of the API's sorted inclusive ranges: [[0, 2], [5, 5]] -> 0, 1, 2, 5."""
    for first, last in ranges:
        yield from range(first, last + 1)


def ranges(spans: list[list[int]]) -> str:
    """[[0, 2], [5, 5], [7, 8]] -> "0-2, 5, 7-8 (6)"; [] -> "none"."""
    if not spans:
        return "none"
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
    return f"{text} ({sum(b - a + 1 for a, b in spans)})"


def status_table(status: dict[str, Any]) -> str:
    expected = status.get("expectedWindowCount")
    counts = status.get("counts", {})
    rows = [
        ("session", status.get("sessionId", "?")),
        ("status", status.get("status", "?")),
        ("capture mode", status.get("captureMode", "?")),
        ("created", status.get("createdAt", "?")),
        ("halves arrived", f"audio {counts.get('audio', 0)}, frames {counts.get('frames', 0)}"),
        ("recorded", ranges(status.get("recordedWindows", []))),
        ("ingest triggered", ranges(status.get("ingestedWindows", []))),
        ("expected windows", "not yet known" if expected is None else str(expected)),
        ("missing", ranges(status.get("missingWindows", []))),
        ("invalid", ranges(status.get("invalidWindows", []))),
        ("unexpected", ranges(status.get("unexpectedWindows", []))),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
