"""Healing lost events: objects that exist under a session's prefix but whose halves the table never recorded.

S3 delivers events at least once, but not necessarily before a session's timeout, and Lambda drops an event its
retries could not deliver into the DLQ. Before the sweeper judges a finalizing session incomplete it lists the
session's prefix and runs every object whose half is not recorded through the completion path itself
(handlers.domain.completion.object_created): the same validation, the same conditional writes, the same ingest
claim, so a healed window is ingested exactly once whether the heal, a late event or a redriven one gets there
first. A half is taken as recorded exactly when the completion path would take its event as a duplicate
(`Window.has`). A window recorded but never ingested is run once more too: its event's retry never came (or the
heal's own invoke failed, and a heal has no retry but the next heal), and the completion path finishes what a
duplicate finds owed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from handlers import layout
from handlers.domain import completion
from handlers.domain.entities import Session
from handlers.domain.errors import OutOfTime
from handlers.domain.ports import ObjectListing

# Outcomes in which the heal itself did what the window's event would have done: recorded a half, triggered an
# ingest, or refused an invalid half (noted and quarantined). Each is an event that was lost (or is still on its way,
# or whose retries ran out).
HEALED_OUTCOMES = frozenset(
    {completion.Outcome.RECORDED, completion.Outcome.INGEST_TRIGGERED, completion.Outcome.INVALID}
)


@dataclass(frozen=True)
class Healer:
    """Heals one session at a time. `time_left` is the seconds the caller may still spend; no object is started with
    less than `margin_seconds` left, so a heal is never cut off between an ingest claim and its confirmation."""

    objects: ObjectListing
    pipeline: completion.Pipeline
    time_left: Callable[[], float] = lambda: float("inf")
    margin_seconds: float = 5.0

    def __call__(self, session: Session) -> list[int]:
        """The session's windows this heal recorded or ingested, in order. Raises OutOfTime when it had to stop (what
        it did stays done: the next heal goes on from there)."""
        session_id = session.session_id
        recorded: set[tuple[int, layout.Media]] = set()
        owed: set[int] = set()  # recorded, never ingested: a claimant's retry that never came (a heal's own, say)
        for window in self.pipeline.store.windows(session_id):
            recorded.update((window.index, media) for media in window.halves)
            if window.recorded and not window.ingested:
                owed.add(window.index)
        healed: set[int] = set()
        for obj in self.objects(layout.session_prefix(session_id)):
            parsed = layout.parse_key(obj.key)
            if parsed is None or parsed.session_id != session_id:
                continue  # not a key of the layout: no event would have been handled either
            if (parsed.window_index, parsed.media) in recorded and parsed.window_index not in owed:
                continue
            owed.discard(parsed.window_index)  # one of its objects is enough: the path finishes the whole window
            if self.time_left() < self.margin_seconds:
                raise OutOfTime(f"session {session_id}: stopped healing with {self.time_left():.1f} s left",
                                sorted(healed))
            outcome = completion.object_created(completion.ObjectCreated(obj.key, obj.size, obj.etag), self.pipeline)
            if outcome in HEALED_OUTCOMES:
                healed.add(parsed.window_index)
        return sorted(healed)
