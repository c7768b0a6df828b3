"""The records the domain works on, each with one typed home: a session (its header) and a window (one item each).

They are parsed once where the table is read (handlers.dal) and carry the derived rules (recorded, ready, missing)
as properties, so no other module reads a record by string keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from handlers.contract import CaptureMode, Status
from handlers.layout import Media


@dataclass(frozen=True)
class AudioFormat:
    """What the completion path read from the WAV header: recorded with the window, shown by the windows route."""

    sample_rate: int
    channels: int
    bits_per_sample: int
    duration_seconds: float


@dataclass(frozen=True)
class Half:
    """One object of a window as S3 reported it: the audio, or the frames bundle."""

    media: Media
    size_bytes: int
    etag: str
    recorded_at: str
    checksum_sha256: str | None = None
    frame_count: int | None = None  # frames only: the count the grant bound as object metadata
    wav: AudioFormat | None = None  # audio only: its header as the completion path read it


@dataclass(frozen=True)
class Session:
    """The header item: who owns the session, its state, and the counters readiness compares."""

    session_id: str
    user_id: str
    capture_mode: CaptureMode
    status: Status
    created_at: str
    expires_at: int
    expected_window_count: int | None = None
    # Windows recorded (every half they need arrived), and of those how many lie at or above the expected count.
    # Each moves exactly once per window, in the same transaction as the window's own transition.
    recorded_count: int = 0
    unexpected_count: int = 0
    processing_triggered: bool = False

    @property
    def recorded_expected(self) -> int:
        """How many of windows 0..expected-1 are recorded (every recorded window, before the count is known)."""
        return self.recorded_count - self.unexpected_count

    @property
    def missing_count(self) -> int | None:
        if self.expected_window_count is None:
            return None
        return self.expected_window_count - self.recorded_expected

    @property
    def complete(self) -> bool:
        """Every window 0..expected-1 is recorded: two numbers compared, no window read."""
        return self.expected_window_count is not None and self.missing_count == 0

    def is_unexpected(self, window_index: int) -> bool:
        return self.expected_window_count is not None and window_index >= self.expected_window_count


@dataclass(frozen=True)
class Window:
    """One window's item: each half's record, the ingest claim, whether ingest was triggered, why it is invalid."""

    session_id: str
    index: int
    halves: dict[Media, Half] = field(default_factory=dict)
    recorded: bool = False
    ingested: bool = False
    claim_token: str | None = None
    invalid: str | None = None  # why the last refused upload of a half was refused, until a valid one replaces it
    invalid_half: Media | None = None
    stored: bool = False  # the table held the window's item when it was read (a new window's first half creates it)

    @property
    def audio(self) -> Half | None:
        return self.halves.get(Media.AUDIO)

    @property
    def frames(self) -> Half | None:
        return self.halves.get(Media.FRAMES)

    def has(self, media: Media) -> bool:
        return media in self.halves

    def completed_by(self, half: Half, mode: CaptureMode) -> bool:
        """True when `half` is the last one the window needs: adding it records the window."""
        return not self.recorded and all(m in self.halves or m == half.media for m in mode.halves)

    def with_half(self, half: Half) -> Window:
        return replace(self, halves={**self.halves, half.media: half})

    @property
    def frame_count(self) -> int:
        frames = self.frames
        return (frames.frame_count or 0) if frames else 0


Range = list[int]  # [first, last], inclusive


class Ranges:
    """Window indexes added in increasing order, kept as inclusive ranges: memory grows with gaps, not windows."""

    def __init__(self) -> None:
        self._ranges: list[Range] = []

    def add(self, index: int) -> None:
        self.add_span(index, index)

    def add_span(self, first: int, last: int) -> None:
        if first > last:
            return
        if self._ranges and self._ranges[-1][1] + 1 >= first:
            self._ranges[-1][1] = max(self._ranges[-1][1], last)
        else:
            self._ranges.append([first, last])

    def as_list(self) -> list[Range]:
        return [list(r) for r in self._ranges]

    @staticmethod
    def of(indexes: Iterable[int]) -> list[Range]:
        ranges = Ranges()
        for index in sorted(indexes):
            ranges.add(index)
        return ranges.as_list()


def expand(ranges: Iterable[Range]) -> Iterator[int]:
    """Every index of inclusive ranges, in order."""
    for first, last in ranges:
        yield from range(first, last + 1)
