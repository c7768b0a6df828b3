"""audio_video sessions through the real client over real HTTP against the local stack: each window's audio and frames
bundle granted, PUT through the presign gate, delivered by the bucket's notification, recorded, ingested once with its
frame count; the session ready with one SessionReady, or incomplete with exactly the window whose frames never came."""

from __future__ import annotations

import time

import pytest
import requests

from client import UploadClient, window_filename
from client.cli import main as cli
from client.windows import FRAMES
from devstack.demo import write_bundle, write_bundles, write_windows
from handlers import layout
from tests.e2e.conftest import FINALIZING_TIMEOUT_SECONDS, dead_letters_for, s3_error

WINDOWS = 10
FRAMES_PER_WINDOW = 12


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """An audio_video recording: window_NNN.wav and window_NNN.zip for each window; and each window's frame count."""
    directory = tmp_path_factory.mktemp("audio-video")
    write_windows(directory, WINDOWS, seconds=0.25)
    return directory, write_bundles(directory, WINDOWS, FRAMES_PER_WINDOW)


@pytest.fixture
def client(stack):
    with UploadClient(stack.api_url, stack.token(user="alice")) as c:
        yield c


def ready_events(stack, session_id: str) -> list[dict]:
    return [detail for detail in stack.session_ready_events() if detail["sessionId"] == session_id]


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_an_audio_video_session_of_ten_windows_through_the_client_becomes_ready_with_one_session_ready(
    stack, client, recording
):
    directory, _ = recording
    session = client.create_session("audio_video")["sessionId"]

    result = client.upload_dir(session, directory, concurrency=4)

    assert result.ok and result.uploaded == list(range(WINDOWS)) and result.incomplete == {}
    assert result.halves_uploaded == {"audio": WINDOWS, "frames": WINDOWS}
    stack.wait_idle()
    status = client.status(session)
    assert status["counts"] == {"audio": WINDOWS, "frames": WINDOWS, "recorded": WINDOWS, "ingested": WINDOWS,
                                "invalid": 0}
    assert stack.ingest_counts(session) == dict.fromkeys(range(WINDOWS), 1)
    assert ready_events(stack, session) == [], "ready before the client said how many windows"

    completed = client.complete(session, WINDOWS)

    assert (completed["status"], completed["missingWindows"]) == ("ready", [])
    wait_for(lambda: ready_events(stack, session))
    stack.wait_idle()
    [event] = ready_events(stack, session)
    assert (event["captureMode"], event["windowCount"], event["windows"]) == ("audio_video", WINDOWS, [[0, WINDOWS - 1]])
    for media in layout.Media:
        assert event["keyTemplates"][media].format(windowIndex=7) == layout.object_key(session, 7, media)
    assert stack.ingest_counts(session) == dict.fromkeys(range(WINDOWS), 1)
    assert dead_letters_for(stack, session) == []


def test_each_window_is_ingested_once_with_the_frame_count_of_its_bundle(stack, client, recording):
    directory, frame_counts = recording
    session = client.create_session("audio_video")["sessionId"]
    assert client.upload_dir(session, directory, concurrency=4).ok
    stack.wait_idle()

    requests_ = stack.ingest_requests(session)
    assert sorted(r["windowIndex"] for r in requests_) == list(range(WINDOWS))
    assert {r["windowIndex"]: r["frameCount"] for r in requests_} == frame_counts
    details = {w["windowIndex"]: w for w in client.windows(session, 0, WINDOWS)["windows"]}
    assert {w: d["frames"]["frameCount"] for w, d in details.items()} == frame_counts


def test_a_window_missing_its_frames_leaves_the_session_incomplete_with_exactly_that_window_missing(
    stack, client, recording, tmp_path
):
    directory, _ = recording
    partial = tmp_path / "partial"
    partial.mkdir()
    for path in directory.iterdir():
        if path.name != window_filename(6, FRAMES):
            (partial / path.name).write_bytes(path.read_bytes())
    session = client.create_session("audio_video")["sessionId"]

    result = client.upload_dir(session, partial, concurrency=4)

    assert result.ok and result.incomplete == {6: ("frames",)}
    stack.wait_idle()
    completed = client.complete(session, WINDOWS)
    completed_at = time.monotonic()
    assert (completed["status"], completed["missingWindows"]) == ("finalizing", [[6, 6]])
    assert completed["recordedWindows"] == [[0, 5], [7, 9]]
    assert (completed["counts"]["audio"], completed["counts"]["frames"]) == (WINDOWS, WINDOWS - 1)
    assert stack.ingest_counts(session) == {w: 1 for w in range(WINDOWS) if w != 6}

    time.sleep(max(0.0, completed_at + FINALIZING_TIMEOUT_SECONDS + 0.2 - time.monotonic()))
    report = stack.sweep()

    assert session in report["markedIncomplete"]
    status = client.status(session)
    assert (status["status"], status["missingWindows"]) == ("incomplete", [[6, 6]])
    assert ready_events(stack, session) == []
    [window] = client.windows(session, 6, 1)["windows"]
    assert (window["windowIndex"], window["frames"], window["recorded"]) == (6, None, False)


def test_the_cli_resumes_each_half_and_a_second_run_meets_write_once_keys_as_uploads_done(
    stack, client, recording, capsys
):
    directory, _ = recording
    session = client.create_session("audio_video")["sessionId"]
    for window in range(4):  # an earlier run that stopped part-way: every audio of 0..3, the frames of 0..1
        client.upload_window(session, window, directory / window_filename(window))
    for window in range(2):
        client.upload_frames(session, window, directory / window_filename(window, FRAMES))
    stack.wait_idle()
    token = stack.token(user="alice")

    code = cli(["upload-dir", str(directory), "--session", session, "--api", stack.api_url, "--token", token])

    summary = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("uploaded ", "audio "))]
    assert code == 0
    assert summary == [f"uploaded {WINDOWS - 2}, skipped 2 (already recorded), failed 0",
                       f"audio {WINDOWS - 4}, frames {WINDOWS - 2} halves uploaded"]
    stack.wait_idle()
    assert stack.ingest_counts(session) == dict.fromkeys(range(WINDOWS), 1)

    # Without resume every key is already written: S3 answers 412, and the windows route says it holds these bytes.
    again = client.upload_dir(session, directory, resume=False)
    assert again.ok and again.uploaded == list(range(WINDOWS))
    stack.wait_idle()
    assert stack.ingest_counts(session) == dict.fromkeys(range(WINDOWS), 1)


def test_a_frames_put_must_carry_the_frame_count_the_grant_signed(stack, client, tmp_path):
    session = client.create_session("audio_video")["sessionId"]
    body = write_bundle(tmp_path / "bundle.zip", 5).read_bytes()
    headers = {"Authorization": f"Bearer {stack.token(user='alice')}"}
    grant = requests.post(f"{stack.api_url}/sessions/{session}/frames", params={"windowIndex": 0},
                          json={"sizeBytes": len(body), "frameCount": 5}, headers=headers, timeout=10).json()
    assert grant["headers"]["x-amz-meta-frame-count"] == "5"

    changed = {**grant["headers"], "x-amz-meta-frame-count": "4"}
    dropped = {k: v for k, v in grant["headers"].items() if k != "x-amz-meta-frame-count"}
    for sent in (changed, dropped):
        response = requests.put(grant["url"], data=body, headers=sent, timeout=10)
        assert (response.status_code, s3_error(response)[0]) == (403, "SignatureDoesNotMatch")
    stack.wait_idle()
    assert client.status(session)["counts"]["frames"] == 0

    assert requests.put(grant["url"], data=body, headers=grant["headers"], timeout=10).status_code == 200
    stack.wait_idle()
    assert client.status(session)["counts"]["frames"] == 1


def test_an_audio_only_session_refuses_frames_naming_them(stack, client, tmp_path):
    session = client.create_session("audio_only")["sessionId"]
    response = requests.post(
        f"{stack.api_url}/sessions/{session}/frames", params={"windowIndex": 0},
        json={"sizeBytes": 10, "frameCount": 1}, headers={"Authorization": f"Bearer {stack.token(user='alice')}"},
        timeout=10,
    )
    assert (response.status_code, response.json()) == (
        400, {"error": "frames: this session's captureMode is audio_only, which records no frames"})
