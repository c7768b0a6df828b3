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

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from handlers import layout
from handlers.domain import completion
from handlers.domain.entities import Session
from handlers.domain.errors import OutOfTime
from handlers.domain.ports import ObjectListing, StoredObject

# Outcomes in which the heal itself did what the window's event would have done: recorded a half, triggered an
# ingest, or refused an invalid half (noted and quarantined). Each is an event that was lost (or is still on its way,
# or whose retries ran out).
HEALED_OUTCOMES = frozenset(
    {completion.Outcome.RECORDED, completion.Outcome.INGEST_TRIGGERED, completion.Outcome.INVALID}
)


# Windows healed at once. A heal is a few round trips per object (the table, S3's HeadObject and ranged GET, the
# ingest invoke), so a session's windows are healed side by side rather than in turn; each in flight holds one of a
# boto3 client's 10 pooled connections.
HEAL_CONCURRENCY = 8


@dataclass(frozen=True)
class Healer:
    """Heals one session at a time, `concurrency` of its windows at once (a window's own objects in listing order, as
    their events would race anyway). `time_left` is the seconds the caller may still spend; no object is started
    with less than `margin_seconds` left, so a heal is never cut off between an ingest claim and its confirmation.

    A heal has no retry but the next heal, and a session that becomes ready is not healed again. So the last window
    the session still needs recorded is kept back until every other window has healed, and no window is started
    once one has failed: a failure (an ingest invoke refused, say) leaves the session a window short, finalizing,
    and the next heal finishes both, as one that healed in turn and stopped at its first failure would."""

    objects: ObjectListing
    pipeline: completion.Pipeline
    time_left: Callable[[], float] = lambda: float("inf")
    margin_seconds: float = 5.0
    concurrency: int = HEAL_CONCURRENCY

    def __call__(self, session: Session) -> list[int]:
        """The session's windows this heal recorded or ingested, in order. Raises, once the windows in flight are
        done, the failure of the lowest window that failed, or OutOfTime when it had to stop (what it did stays done:
        the next heal goes on from there)."""
        due, unrecorded = self._due(session.session_id)
        kept = max((w for w in unrecorded if not session.is_unexpected(w)), default=None)
        failed = threading.Event()
        runs = self._run({w: objects for w, objects in due.items() if w != kept}, failed)
        if kept is not None and not failed.is_set() and not any(run.result()[1] for run in runs.values()):
            runs |= self._run({kept: due[kept]}, failed)
        for window in sorted(runs):
            if runs[window].exception() is not None:
                raise runs[window].exception()
        results = {window: run.result() for window, run in runs.items()}
        healed = sorted(window for window, (done, _) in results.items() if done)
        if any(stopped for _, stopped in results.values()):
            raise OutOfTime(f"session {session.session_id}: stopped healing with {self.time_left():.1f} s left",
                            healed)
        return healed

    def _due(self, session_id: str) -> tuple[dict[int, list[StoredObject]], set[int]]:
        """The objects to run through the completion path, by window (each of a half the table does not hold, and
        one of each window recorded but never ingested); and which of those windows are not recorded."""
        recorded: set[tuple[int, layout.Media]] = set()
        whole: set[int] = set()
        owed: set[int] = set()  # recorded, never ingested: a claimant's retry that never came (a heal's own, say)
        for window in self.pipeline.store.windows(session_id):
            recorded.update((window.index, media) for media in window.halves)
            if window.recorded:
                whole.add(window.index)
                if not window.ingested:
                    owed.add(window.index)
        due: dict[int, list[StoredObject]] = {}
        for obj in self.objects(layout.session_prefix(session_id)):
            parsed = layout.parse_key(obj.key)
            if parsed is None or parsed.session_id != session_id:
                continue  # not a key of the layout: no event would have been handled either
            if (parsed.window_index, parsed.media) in recorded and parsed.window_index not in owed:
                continue
            owed.discard(parsed.window_index)  # one of its objects is enough: the path finishes the whole window
            due.setdefault(parsed.window_index, []).append(obj)
        return due, set(due) - whole

    def _run(self, due: dict[int, list[StoredObject]], failed: threading.Event) -> dict[int, Future]:
        """Each window's heal, `concurrency` at a time; returns once every one has ended."""
        if not due:
            return {}
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(due)))) as pool:
            return {window: pool.submit(self._heal_window, objects, failed) for window, objects in due.items()}

    def _heal_window(self, objects: list[StoredObject], failed: threading.Event) -> tuple[bool, bool]:
        """(healed, out of time): whether the completion path did, for one of the window's objects, what a lost event
        would have done; and whether too little time was left to start one. Starts nothing once a window failed, and
        sets `failed` when it does."""
        healed = False
        for obj in objects:
            if failed.is_set():
                break
            if self.time_left() < self.margin_seconds:
                return healed, True
            try:
                outcome = completion.object_created(
                    completion.ObjectCreated(obj.key, obj.size, obj.etag), self.pipeline
                )
            except BaseException:
                failed.set()
                raise
            healed |= outcome in HEALED_OUTCOMES
        return healed, False
