"""Lost S3 events over the local stack: dropped on purpose, healed by the sweeper before it judges the session."""

from __future__ import annotations

import time

from devstack import samples
from tests.e2e.conftest import FINALIZING_TIMEOUT_SECONDS


def wav_body(window: int) -> bytes:
    """A short, valid WAV (a tone of its own per window): what a capture app uploads."""
    return samples.wav_bytes(frequency=220 + 10 * window)


def upload_one_by_one(stack, api, session_id: str, windows) -> None:
    """Each window's event handled (or dropped) before the next upload: a countdown of faults hits them in order."""
    for window in windows:
        api.upload(session_id, window, wav_body(window))
        stack.wait_idle()


def ready_events(stack, session_id: str) -> list[dict]:
    return [detail for detail in stack.session_ready_events() if detail["sessionId"] == session_id]


def test_dropped_events_are_healed_by_the_sweeper_before_it_judges_and_each_window_is_ingested_once(stack, api, faults):
    session_id = api.create_session()
    faults.drop_events(2)
    upload_one_by_one(stack, api, session_id, range(4))
    assert faults.injected("drop_event") == 2
    assert api.status(session_id)["recordedWindows"] == [[2, 3]]
    assert api.complete(session_id, 4).json()["status"] == "finalizing"
    completed_at = time.monotonic()

    early = stack.sweep()  # within the timeout: nothing is listed, nothing judged
    assert session_id not in early["healed"] and api.status(session_id)["status"] == "finalizing"
    time.sleep(max(0.0, completed_at + FINALIZING_TIMEOUT_SECONDS + 0.2 - time.monotonic()))
    report = stack.sweep()
    stack.wait_idle()  # the healed windows' ingest invocations

    assert report["healed"][session_id] == [[0, 1]]
    assert session_id not in report["markedIncomplete"] and report["failed"] == []
    status = api.status(session_id)
    assert (status["status"], status["recordedWindows"], status["ingestedWindows"]) == ("ready", [[0, 3]], [[0, 3]])
    assert stack.ingest_counts(session_id) == {0: 1, 1: 1, 2: 1, 3: 1}
    assert len(ready_events(stack, session_id)) == 1
    assert session_id not in stack.sweep()["healed"]


def test_a_session_missing_a_window_that_was_never_uploaded_is_healed_of_the_rest_then_marked_incomplete(
    stack, api, faults
):
    session_id = api.create_session()
    faults.drop_events(1)
    upload_one_by_one(stack, api, session_id, (0, 2))  # window 0's event is lost; window 1 never uploaded
    assert api.complete(session_id, 3).status_code == 202
    time.sleep(FINALIZING_TIMEOUT_SECONDS + 0.2)

    report = stack.sweep()
    stack.wait_idle()

    assert report["healed"][session_id] == [[0, 0]] and session_id in report["markedIncomplete"]
    status = api.status(session_id)
    assert (status["status"], status["missingWindows"]) == ("incomplete", [[1, 1]])
    assert stack.ingest_counts(session_id) == {0: 1, 2: 1}
    assert ready_events(stack, session_id) == []
