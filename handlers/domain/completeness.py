"""Session completeness: the backend decides when a session is whole, and starts its processing exactly once.

A session moves recording -> finalizing (the client said how many windows it recorded) -> ready (every window
0..N-1 recorded) or incomplete (the sweeper gave up after the timeout). Readiness is checked on complete and after
every window recorded later, each with the whole item as DynamoDB returned it from the write, so of two concurrent
last writes at least one sees everything; the transition to ready is conditional on `finalizing`, so only one
caller wins it. The winner (or, if it dies or its delivery fails, the sweeper) delivers the processing trigger
under a claim lease, so it fires once per ready session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from handlers import contract
from handlers.domain.errors import Conflict
from handlers.domain.processing import ProcessingTrigger, session_ready_detail
from handlers.domain.sessions import load_owned, missing_windows, status_body
from handlers.domain.store import Item, SessionStore


def deliver_processing(item: Item, *, store: SessionStore, trigger: ProcessingTrigger, lease_seconds: int) -> bool:
    """Deliver the trigger of a ready session unless it was delivered or a live claim holds it. Raises on failure."""
    session_id = item["sessionId"]
    token = store.claim_processing(session_id, lease_seconds)
    if token is None:
        return False
    try:
        trigger(session_ready_detail(item, int(item["expectedWindowCount"])))
    except Exception:
        store.release_processing(session_id, token)
        raise
    store.confirm_processing(session_id)
    return True


def advance(item: Item | None, *, store: SessionStore, trigger: ProcessingTrigger, lease_seconds: int) -> bool:
    """Move a finalizing session with every window recorded to ready, and deliver its trigger.

    True when this call delivered the trigger. Raises when delivery failed (the claim is released first).
    """
    if item is None or item.get("status") not in (contract.STATUS_FINALIZING, contract.STATUS_READY):
        return False
    if item["status"] == contract.STATUS_FINALIZING:
        if missing_windows(item) or not store.mark_ready(item["sessionId"]):
            return False
        item = {**item, "status": contract.STATUS_READY}
    if "processingTriggeredAt" in item:
        return False
    return deliver_processing(item, store=store, trigger=trigger, lease_seconds=lease_seconds)


@dataclass
class CompleteResult:
    body: dict[str, Any]
    trigger_error: Exception | None = None


def complete_session(
    session_id: str,
    user_id: str,
    expected: int,
    *,
    store: SessionStore,
    trigger: ProcessingTrigger,
    lease_seconds: int,
) -> CompleteResult:
    """recording -> finalizing (idempotent for the same count), then ready if every window is already recorded.

    A failed trigger delivery does not fail the request: the session is ready either way, and the sweeper
    delivers what is still owed. The error is returned for logging.
    """
    item = load_owned(session_id, user_id, store)
    if item["status"] == contract.STATUS_RECORDING:
        item = store.finalize(session_id, expected) or store.get(session_id)
    if item["status"] != contract.STATUS_FINALIZING:
        raise Conflict(f"session is already {item['status']}")
    if int(item["expectedWindowCount"]) != expected:
        raise Conflict(
            f"expectedWindowCount: session is finalizing with {int(item['expectedWindowCount'])} windows, not {expected}"
        )
    error = None
    try:
        advance(item, store=store, trigger=trigger, lease_seconds=lease_seconds)
    except Exception as failure:  # noqa: BLE001 - the sweeper retries; the client's request succeeded
        error = failure
    return CompleteResult(status_body(store.get(session_id)), error)


@dataclass
class SweepReport:
    marked_incomplete: list[str] = field(default_factory=list)
    triggered: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def sweep(
    *, store: SessionStore, trigger: ProcessingTrigger, timeout_seconds: float, lease_seconds: int
) -> SweepReport:
    """Finalizing sessions past the timeout become incomplete; ready sessions still owed a trigger get it."""
    report = SweepReport()
    for indexed in store.pending(finalizing_before=store.now() - timeout_seconds):
        session_id = indexed["sessionId"]
        try:
            item = store.get(session_id)  # the index is eventually consistent: decide on a consistent read
            if advance(item, store=store, trigger=trigger, lease_seconds=lease_seconds):
                report.triggered.append(session_id)
            elif item and item["status"] == contract.STATUS_FINALIZING:
                missing = missing_windows(item)
                if missing and store.mark_incomplete(session_id, missing, seen=item):
                    report.marked_incomplete.append(session_id)
        except Exception:  # noqa: BLE001 - one failing session must not starve the others; counted and retried
            report.failed.append(session_id)
    return report
