"""A one-line progress bar on stderr for byte counts and each kind of half completed, redrawn at most a few times a
second."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class ProgressBar:
    """Call it with (sent, total) bytes from any thread; `close()` draws the final state and ends the line."""

    def __init__(self, label: str = "upload", stream: TextIO | None = None, width: int = 30) -> None:
        self._label, self._stream, self._width = label, stream or sys.stderr, width
        # Redrawing with \r only makes sense on a terminal; elsewhere (logs, CI) draw once, at the end.
        self._live = hasattr(self._stream, "isatty") and self._stream.isatty()
        self._sent = self._total = 0
        self._halves: dict[str, tuple[int, int]] = {}  # half -> (uploaded, to upload), in the order first reported
        self._started = time.monotonic()
        self._drawn_at = 0.0
        self._lock = threading.Lock()

    def __call__(self, sent: int, total: int) -> None:
        with self._lock:
            self._sent, self._total = sent, total
            self._draw()

    def half(self, half: str, done: int, total: int) -> None:
        """`done` of the `total` halves of one kind (audio, frames) to upload are uploaded: shown after the bytes."""
        with self._lock:
            self._halves[half] = (done, total)
            self._draw()

    def _draw(self) -> None:
        now = time.monotonic()
        if self._live and now - self._drawn_at >= 0.1:
            self._drawn_at = now
            self._stream.write("\r" + self._line(now))
            self._stream.flush()

    def _line(self, now: float) -> str:
        fraction = self._sent / self._total if self._total else 1.0
        filled = int(fraction * self._width)
        rate = self._sent / max(now - self._started, 1e-6) / 1e6
        halves = "".join(f", {half} {done}/{total}" for half, (done, total) in self._halves.items())
        return (
            f"{self._label} [{'#' * filled}{'.' * (self._width - filled)}] {fraction:4.0%} "
            f"{self._sent / 1e6:.1f}/{self._total / 1e6:.1f} MB {rate:.1f} MB/s{halves}"
        )

    def close(self) -> None:
        with self._lock:
            self._stream.write(("\r" if self._live else "") + self._line(time.monotonic()) + "\n")
            self._stream.flush()
