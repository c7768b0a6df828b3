"""Fault injection: failures a test asks for, each consumed as it happens."""

from __future__ import annotations

import threading
from collections import Counter


class Faults:
    """Countdowns of failures to inject, and the skew of the S3 gate's clock."""

    def __init__(self) -> None:
        self._pending: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.s3_clock_skew_seconds = 0.0

    def fail_ingest_invokes(self, n: int) -> None:
        """The next n lambda:Invoke calls of the ingest target fail (ResourceConflictException), so the
        completion handler's invoke raises and its event is retried."""
        self._add("ingest_invoke", n)

    def fail_ingest_runs(self, n: int) -> None:
        """The next n runs of the ingest function raise, so Lambda retries them (same request id)."""
        self._add("ingest_run", n)

    def fail_completion(self, n: int) -> None:
        """The next n completion-handler invocations raise."""
        self._add("completion", n)

    def skew_s3_clock(self, seconds: float) -> None:
        """The presign gate sees the time `seconds` later: a URL expires without waiting for it."""
        self.s3_clock_skew_seconds = seconds

    def reset(self) -> None:
        with self._lock:
            self._pending.clear()
        self.s3_clock_skew_seconds = 0.0

    def _add(self, kind: str, n: int) -> None:
        if n < 0:
            raise ValueError("n must not be negative")
        with self._lock:
            self._pending[kind] += n

    def pending(self, kind: str) -> int:
        """How many failures of a kind ("ingest_invoke", "ingest_run", "completion") are still to happen."""
        with self._lock:
            return self._pending[kind]

    def take(self, kind: str) -> bool:
        """True (and one fewer pending) when a failure of this kind is due."""
        with self._lock:
            if self._pending[kind] <= 0:
                return False
            self._pending[kind] -= 1
            return True
