"""Fault injection: failures a test asks for, each consumed as it happens."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl

from devstack.gate import Rejected


class Faults:
    """Countdowns and random rates of failures to inject, how many were injected, and the skew of the S3 gate's
    clock."""

    def __init__(self) -> None:
        self._pending: Counter[str] = Counter()
        self._rates: dict[str, tuple[float, random.Random]] = {}
        self._lock = threading.Lock()
        self._injected: Counter[str] = Counter()
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

    def fail_sweeps(self, n: int) -> None:
        """The next n sweeper invocations raise (a scheduled one then lands in the sweeper's DLQ)."""
        self._add("sweep", n)

    def duplicate_events(self, n: int) -> None:
        """The next n S3 events the relay takes from the queue are delivered twice, as two async invocations
        (S3 delivers at least once: a duplicate is a second, independent delivery of the same event)."""
        self._add("duplicate_event", n)

    def drop_events(self, n: int) -> None:
        """The next n S3 events the relay takes from the queue are lost: their messages are deleted and the
        completion function never sees them (S3 gives no delivery guarantee in time; Lambda drops what it could not
        deliver). The sweeper's heal, a redrive or `ops reconcile` must then find their objects."""
        self._add("drop_event", n)

    def at_random(self, kind: str, rate: float, seed: int) -> None:
        """Besides any countdown, each chance of a failure of `kind` ("ingest_invoke", "ingest_run", "completion",
        "duplicate_event", "drop_event", "sweep") happens with probability `rate`, drawn from an RNG seeded with `seed`."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        with self._lock:
            self._rates[kind] = (rate, random.Random(seed))

    def fail_s3_puts(self, n: int) -> None:
        """The next n presigned PUTs get S3's 503 ServiceUnavailable before the gate checks them: nothing stored."""
        self._add("s3_put", n)

    def lose_s3_put_answers(self, n: int) -> None:
        """The next n presigned PUTs are stored (and notify) as usual, but their answer is lost: the client sees S3's
        500 InternalError instead of the 200, as when a connection drops after the upload."""
        self._add("s3_put_answer", n)

    def expire_s3_urls(self, n: int) -> None:
        """The next n presigned requests find their URL expired (403 AccessDenied "Request has expired"), however
        fresh: a client's retry, with a fresh grant, then succeeds."""
        self._add("s3_url_expired", n)

    def skew_s3_clock(self, seconds: float) -> None:
        """The presign gate sees the time `seconds` later: a URL expires without waiting for it."""
        self.s3_clock_skew_seconds = seconds

    def reset(self) -> None:
        with self._lock:
            self._pending.clear()
            self._rates.clear()
            self._injected.clear()
        self.s3_clock_skew_seconds = 0.0

    def _add(self, kind: str, n: int) -> None:
        if n < 0:
            raise ValueError("n must not be negative")
        with self._lock:
            self._pending[kind] += n

    def pending(self, kind: str) -> int:
        """How many failures of a kind ("ingest_invoke", "ingest_run", "completion", "duplicate_event", "drop_event",
        "sweep", "s3_put", "s3_url_expired") are still to happen by countdown."""
        with self._lock:
            return self._pending[kind]

    def injected(self, kind: str) -> int:
        """How many failures of a kind were injected since the last reset, by countdown or at random."""
        with self._lock:
            return self._injected[kind]

    def take(self, kind: str) -> bool:
        """True (and one fewer pending) when a failure of this kind is due."""
        with self._lock:
            if self._pending[kind] > 0:
                self._pending[kind] -= 1
            elif kind not in self._rates or self._rates[kind][1].random() >= self._rates[kind][0]:
                return False
            self._injected[kind] += 1
            return True


class FailingPuts:
    """WSGI, in front of the presign gate: a presigned PUT answers 503 while `faults` has "s3_put" failures due."""

    def __init__(self, app: Callable, faults: Faults):
        self._app, self._faults = app, faults

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        presigned = any(name == "X-Amz-Signature" for name, _ in parse_qsl(environ.get("QUERY_STRING", "")))
        if environ.get("REQUEST_METHOD") == "PUT" and presigned and self._faults.take("s3_put"):
            environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))  # a server reads what it refuses
            refused = Rejected(503, "ServiceUnavailable", "Please reduce your request rate.")
            return refused.response(environ.get("PATH_INFO", ""))(environ, start_response)
        if environ.get("REQUEST_METHOD") == "PUT" and presigned and self._faults.take("s3_put_answer"):
            stored = self._app(environ, lambda *_: None)  # the PUT happens; its answer never reaches the client
            for _ in stored:
                pass
            lost = Rejected(500, "InternalError", "We encountered an internal error. Please try again.")
            return lost.response(environ.get("PATH_INFO", ""))(environ, start_response)
        return self._app(environ, start_response)
