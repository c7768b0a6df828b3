"""A one-line progress bar on stderr for long reconciles: sessions done of all, objects listed, objects to replay.

Drawn only on a terminal, redrawn at most a few times a second, and only once a run has lasted a second (a short run
stays silent); `close()` ends the line. Off a terminal it draws nothing: stdout's report (or `--json`) says it all.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

SHOW_AFTER_SECONDS = 1.0
REDRAW_SECONDS = 0.2


class Progress:
    def __init__(self, stream: TextIO | None = None, width: int = 30, live: bool | None = None):
        self._stream = stream or sys.stderr
        self._width = width
        self._live = live if live is not None else (hasattr(self._stream, "isatty") and self._stream.isatty())
        self._total = self._done = self._objects = self._to_replay = 0
        self._started = time.monotonic()
        self._drawn_at = 0.0
        self._drawn = False

    def start(self, total: int) -> None:
        self._total = total
        self._started = time.monotonic()

    def object(self) -> None:
        self._objects += 1
        self._draw()

    def session_done(self, to_replay: int) -> None:
        self._done += 1
        self._to_replay += to_replay
        self._draw()

    def line(self) -> str:
        fraction = self._done / self._total if self._total else 1.0
        filled = int(fraction * self._width)
        return (f"reconcile [{'#' * filled}{'.' * (self._width - filled)}] {self._done}/{self._total} sessions, "
                f"{self._objects} objects listed, {self._to_replay} to replay")

    def _draw(self, force: bool = False) -> None:
        if not self._live:
            return
        now = time.monotonic()
        if not force and (now - self._started < SHOW_AFTER_SECONDS or now - self._drawn_at < REDRAW_SECONDS):
            return
        self._drawn_at = now
        self._drawn = True
        self._stream.write("\r" + self.line())
        self._stream.flush()

    def close(self) -> None:
        if self._drawn:
            self._draw(force=True)
            self._stream.write("\n")
            self._stream.flush()
