"""What the domain needs from the outside, as Protocols: the sessions table, the ingest target, the processing
trigger. The boto3 implementations live in handlers.dal; tests may pass anything with the same shape."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from handlers.domain.entities import Half, Session, Window
from handlers.layout import Media


@dataclass(frozen=True)
class ObjectHead:
    """What S3 holds for a key (HeadObject with checksum mode)."""

    size: int
    etag: str
    checksum_sha256: str | None
    metadata: dict[str, str]


class ObjectStore(Protocol):
    """The session bucket, as the completion path reads it."""

    def head(self, key: str) -> ObjectHead | None:
        """None when no object has the key (deleted, or moved to quarantine, since the event was sent)."""

    def read(self, key: str, byte_range: str) -> bytes:
        """A ranged GET (`bytes=0-4095`, `bytes=-65633`): never the whole object."""

    def quarantine(self, key: str, etag: str) -> str:
        """Move the object out of the notification's way (copy to the quarantine prefix, delete); the new key."""


class StaleRead(Exception):
    """A conditional write found the items changed since they were read: read again and decide again."""


class SessionRepository(Protocol):
    """The sessions table: a header item per session, an item per window. Every write is conditional, so races
    resolve in the table; every item written has a constant size."""

    def now(self) -> float: ...

    def create(self, session: Session) -> None: ...

    def get(self, session_id: str) -> Session | None:
        """The header, read consistently."""

    def get_window(self, session_id: str, window_index: int) -> Window | None:
        """A window's item, read consistently; None when no half of it was ever recorded."""

    def get_with_window(self, session_id: str, window_index: int) -> tuple[Session | None, Window | None]:
        """The header and a window's item together, in one round trip."""

    def get_with_windows(
        self, session_id: str, window_indexes: Sequence[int]
    ) -> tuple[Session | None, dict[int, Window]]:
        """The header and these windows' items (by index, those that exist), in one round trip for up to 99 windows."""

    def windows(self, session_id: str, start: int = 0, limit: int | None = None) -> Iterator[Window]:
        """The session's window items from `start` on, in window order, paged (never the whole session at once)."""

    def record_half(self, session: Session, seen: Window, half: Half) -> str | None:
        """Add `half` to the window as `seen`; StaleRead when either item changed since.

        When the half completes the window, the window's transition, its ingest claim and the header's counters
        move in one transaction, and the claim's token is returned.
        """

    def record_invalid(self, session: Session, seen: Window, media: Media, reason: str) -> None:
        """Note why a half of the window was refused (it is never recorded nor ingested); StaleRead when that half was
        recorded valid meanwhile."""

    def claim_ingest(self, session_id: str, window_index: int) -> str | None:
        """A lease on the right to invoke ingest for a recorded window, or None (triggered, or a live claim)."""

    def confirm_ingest(self, session_id: str, window_index: int) -> None: ...

    def release_ingest(self, session_id: str, window_index: int, token: str) -> None: ...

    def finalize(self, session: Session, expected: int) -> Session:
        """recording -> finalizing with the expected count; StaleRead when the header changed since `session`."""

    def mark_ready(self, session_id: str) -> bool: ...

    def mark_incomplete(self, seen: Session) -> bool:
        """finalizing -> incomplete, unless a window was recorded since `seen` was read."""

    def claim_processing(self, session_id: str) -> str | None: ...

    def confirm_processing(self, session_id: str) -> None: ...

    def release_processing(self, session_id: str, token: str) -> None: ...

    def pending(self, finalizing_before: float) -> Iterator[str]:
        """Ids of sessions the sweeper must look at: finalizing since before the cutoff, or ready and owed a trigger."""


class IngestTarget(Protocol):
    def __call__(self, request: dict[str, Any]) -> None:
        """Hand one ingest request over asynchronously; raise if it was not accepted."""


class ProcessingTrigger(Protocol):
    def __call__(self, detail: dict[str, Any]) -> None:
        """Deliver the trigger for one ready session; raise if it was not accepted."""


@dataclass(frozen=True)
class StoredObject:
    """An object under a prefix of the bucket, as a listing reports it (the ETag without S3's quotes)."""

    key: str
    size: int
    etag: str


class ObjectListing(Protocol):
    def __call__(self, prefix: str) -> Iterator[StoredObject]:
        """Every object under `prefix`, paged (never the whole listing in memory)."""
