"""Session completeness: the backend decides when a session is whole, and starts its processing exactly once.

A session moves recording -> finalizing (the client said how many windows it recorded) -> ready (every window
0..N-1 recorded) or incomplete (the sweeper gave up after the timeout). Readiness is a comparison of two numbers
on the header (`Session.complete`): the counters move in the same transaction as each window's transition, and a
writer that completes a window while the session is finalizing reads the header again after its write, so of two
concurrent last windows the later re-read sees both. The transition to ready is conditional on `finalizing`, so
only one caller wins it. The winner (or, if it dies or its delivery fails, the sweeper) delivers the processing
trigger under a claim lease, so it fires once per ready session.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from handlers.contract import Status
from handlers.domain.entities import Session
from handlers.domain.errors import Conflict, OutOfTime
from handlers.domain.ports import ProcessingTrigger, SessionRepository, StaleRead
from handlers.domain.processing import session_ready_detail
from handlers.domain.sessions import describe, load_owned

MAX_FINALIZE_ATTEMPTS = 8


def deliver_processing(session: Session, *, store: SessionRepository, trigger: ProcessingTrigger) -> bool:
    """Deliver the trigger of a ready session unless it was delivered or a live claim holds it. Raises on failure."""
    token = store.claim_processing(session.session_id)
    if token is None:
        return False
    try:
        trigger(session_ready_detail(session))
    except Exception:
        store.release_processing(session.session_id, token)
        raise
    store.confirm_processing(session.session_id)
    return True


def advance(session: Session | None, *, store: SessionRepository, trigger: ProcessingTrigger) -> bool:
    """Move a finalizing session with every window recorded to ready, and deliver its trigger.

    True when this call delivered the trigger. Raises when delivery failed (the claim is released first).
    """
    if session is None or session.status not in (Status.FINALIZING, Status.READY):
        return False
    if session.status is Status.FINALIZING:
        if not session.complete or not store.mark_ready(session.session_id):
            return False
        session = replace(session, status=Status.READY)
    if session.processing_triggered:
        return False
    return deliver_processing(session, store=store, trigger=trigger)


@dataclass
class CompleteResult:
    body: dict[str, Any]
    trigger_error: Exception | None = None


def complete_session(
    session_id: str, user_id: str, expected: int, *, store: SessionRepository, trigger: ProcessingTrigger
) -> CompleteResult:
    """recording -> finalizing (idempotent for the same count), then ready if every window is already recorded.

    A failed trigger delivery does not fail the request: the session is ready either way, and the sweeper
    delivers what is still owed. The error is returned for logging.
    """
    session = load_owned(session_id, user_id, store)
    for _ in range(MAX_FINALIZE_ATTEMPTS):
        if session.status is not Status.RECORDING:
            break
        try:
            session = store.finalize(session, expected)
        except StaleRead:  # a window was recorded meanwhile: count again
            session = load_owned(session_id, user_id, store)
    if session.status is Status.RECORDING:
        raise StaleRead(f"session {session_id}: windows kept arriving while it was finalized; retry")
    if session.status is not Status.FINALIZING:
        raise Conflict(f"session is already {session.status}")
    if session.expected_window_count != expected:
        raise Conflict(
            f"expectedWindowCount: session is finalizing with {session.expected_window_count} windows, not {expected}"
        )
    error = None
    try:
        advance(session, store=store, trigger=trigger)
    except Exception as failure:  # noqa: BLE001 - the sweeper retries; the client's request succeeded
        error = failure
    return CompleteResult(describe(load_owned(session_id, user_id, store), store), error)


@dataclass
class SweepReport:
    marked_incomplete: list[str] = field(default_factory=list)
    triggered: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    healed: dict[str, list[int]] = field(default_factory=dict)  # session -> windows the heal recorded
    deferred: list[str] = field(default_factory=list)  # not reached, or left mid-heal, for lack of time

    @property
    def windows_healed(self) -> int:
        return sum(len(windows) for windows in self.healed.values())


class Heal(Protocol):
    def __call__(self, session: Session) -> list[int]:
        """Record what exists in the bucket but not in the table (handlers.domain.healing); the windows healed.
        Raises OutOfTime when it had to stop."""


def sweep(
    *, store: SessionRepository, trigger: ProcessingTrigger, timeout_seconds: float, heal: Heal | None = None
) -> SweepReport:
    """Finalizing sessions past the timeout are healed, then become ready or incomplete; ready sessions still owed a
    trigger get it.

    A finalizing session past the timeout is healed first (`heal`: the objects of its prefix that the table never
    recorded go through the completion path, which may itself make it ready), then judged on its header, read again
    after the heal: the decision is a comparison of its counters, and no window item is read for it. A heal that
    runs out of time leaves its session, and every session after it, for the next run.
    """
    report = SweepReport()
    for session_id in store.pending(finalizing_before=store.now() - timeout_seconds):
        if report.deferred:
            report.deferred.append(session_id)
            continue
        try:
            session = store.get(session_id)  # the index is eventually consistent: decide on a consistent read
            if heal is not None and session is not None and session.status is Status.FINALIZING:
                healed = heal(session)
                if healed:
                    report.healed[session_id] = healed
                    session = store.get(session_id)  # judge the counters as the heal left them
            if advance(session, store=store, trigger=trigger):
                report.triggered.append(session_id)
            elif session and session.status is Status.FINALIZING and not session.complete:
                if store.mark_incomplete(session):
                    report.marked_incomplete.append(session_id)
        except OutOfTime as stopped:
            if stopped.healed:
                report.healed[session_id] = stopped.healed
            report.deferred.append(session_id)
        except Exception:  # noqa: BLE001 - one failing session must not starve the others; counted and retried
            report.failed.append(session_id)
    return report
