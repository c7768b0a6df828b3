"""Session completeness over real HTTP: complete, SessionReady on the processing bus exactly once, the sweeper."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from devstack import samples
from handlers import layout
from tests.e2e.conftest import FINALIZING_TIMEOUT_SECONDS, put

BODY = samples.wav_bytes()


def ready_events(stack, session_id: str) -> list[dict]:
    return [detail for detail in stack.session_ready_events() if detail["sessionId"] == session_id]


def expected_detail(session_id: str, count: int) -> dict:
    return {
        "sessionId": session_id,
        "userId": "alice",
        "captureMode": "audio_only",
        "windowCount": count,
        "windows": [[0, count - 1]],
        "keyPrefix": layout.session_prefix(session_id),
        "keyTemplates": {"audio": layout.session_prefix(session_id) + "window_{windowIndex:03d}/audio.wav"},
    }


def test_complete_after_every_window_makes_the_session_ready_with_one_session_ready_event(stack, api):
    session_id = api.create_session()
    for window in range(3):
        api.upload(session_id, window, BODY)
    stack.wait_idle()
    assert ready_events(stack, session_id) == [], "ready before the client said how many windows"

    response = api.complete(session_id, 3)

    assert response.status_code == 202, response.text
    assert (response.json()["status"], response.json()["missingWindows"]) == ("ready", [])
    stack.wait_idle()
    assert ready_events(stack, session_id) == [expected_detail(session_id, 3)]
    assert api.status(session_id)["status"] == "ready"
    assert stack.ingest_counts(session_id) == {0: 1, 1: 1, 2: 1}


def test_complete_before_the_windows_arrive_fires_once_when_the_last_one_lands(stack, api):
    session_id = api.create_session()
    grants = [api.grant(session_id, window, BODY) for window in range(4)]  # granted while recording

    response = api.complete(session_id, 4)
    assert response.status_code == 202, response.text
    assert (response.json()["status"], response.json()["missingWindows"]) == ("finalizing", [[0, 3]])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put, grants, [BODY] * 4))
    stack.wait_idle()

    assert ready_events(stack, session_id) == [expected_detail(session_id, 4)]
    status = api.status(session_id)
    assert (status["status"], status["recordedWindows"], status["missingWindows"]) == ("ready", [[0, 3]], [])


def test_complete_repeats_with_the_same_count_and_refuses_another(stack, api):
    session_id = api.create_session()
    api.upload(session_id, 0, BODY)
    stack.wait_idle()
    assert api.complete(session_id, 2).status_code == 202

    again = api.complete(session_id, 2)
    other = api.complete(session_id, 3)

    assert again.status_code == 202, again.text
    assert again.json()["status"] == "finalizing" and again.json()["expectedWindowCount"] == 2
    assert other.status_code == 409, other.text
    assert "2 windows" in other.json()["error"]


def test_grants_after_complete_are_refused_with_409(stack, api):
    session_id = api.create_session()
    assert api.complete(session_id, 1).status_code == 202

    response = api.complete(session_id, 1)  # still idempotent: only the grant is refused
    refused = api.grant_response(session_id, 0, BODY)

    assert response.status_code == 202
    assert refused.status_code == 409, refused.text
    assert "error" in refused.json()


def test_a_session_with_gaps_is_marked_incomplete_by_the_sweeper_and_never_ready(stack, api):
    session_id = api.create_session()
    for window in (0, 2):
        api.upload(session_id, window, BODY)
    stack.wait_idle()
    assert api.complete(session_id, 5).status_code == 202
    completed_at = time.monotonic()

    early = stack.sweep()  # within the finalizing timeout: the session may still get its windows
    assert session_id not in early["markedIncomplete"]
    assert api.status(session_id)["status"] == "finalizing"

    time.sleep(max(0.0, completed_at + FINALIZING_TIMEOUT_SECONDS + 0.2 - time.monotonic()))
    report = stack.sweep()

    assert session_id in report["markedIncomplete"] and report["failed"] == []
    status = api.status(session_id)
    assert (status["status"], status["missingWindows"]) == ("incomplete", [[1, 1], [3, 4]])
    assert ready_events(stack, session_id) == []
    assert session_id not in stack.sweep()["markedIncomplete"], "an incomplete session is swept once"
