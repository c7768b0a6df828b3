"""Which failures are worth another attempt, and how long to wait before it (exponential backoff, full jitter)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

# S3 codes that a fresh attempt can cure: a slow upload that S3 timed out, and throttling.
_TRANSIENT_S3_CODES = frozenset({"RequestTimeout", "SlowDown", "InternalError", "ServiceUnavailable"})


def is_transient(status: int, code: str | None = None, message: str = "") -> bool:
    """5xx, 429, a retryable S3 code, and an expired presigned URL (the next attempt asks for a fresh grant)."""
    if status >= 500 or status == 429 or code in _TRANSIENT_S3_CODES:
        return True
    return is_expired(status, code, message)


def is_expired(status: int | None, code: str | None = None, message: str = "") -> bool:
    """S3's refusal of a presigned URL past its expiry: 403 AccessDenied "Request has expired"."""
    return status == 403 and code == "AccessDenied" and "expired" in message.lower()


@dataclass(frozen=True)
class Backoff:
    """Delay before retry n (0-based): uniform in [0, min(cap, base * 2**n)] ("full jitter")."""

    base: float = 0.5
    cap: float = 20.0
    rand: Callable[[], float] = field(default=random.random, repr=False)

    def delay(self, retry: int) -> float:
        return self.rand() * min(self.cap, self.base * 2**retry)
