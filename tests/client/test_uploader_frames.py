"""UploadClient and the frames half: upload_frames, the frame count read from the archive, and upload_dir pairing
window_NNN.wav with window_NNN.zip and resuming each half on its own."""

from __future__ import annotations

import json

import pytest

from client import UploadError, UsageError, frame_count, uploader, window_filename
from tests.client.conftest import b64sha, with_and_without_prefetch
from tests.client.conftest import frames_bundle as bundle

AUDIO = b"RIFF" + bytes(range(256)) * 10


def write_dir(directory, audio=(), frames=(), entries=3):
    for window in audio:
        (directory / window_filename(window)).write_bytes(AUDIO + bytes([window]))
    for window in frames:
        (directory / window_filename(window, "frames")).write_bytes(bundle(entries + window))
    return directory


# --- upload_frames ------------------------------------------------------------------------------------------------


def test_upload_frames_asks_for_a_frames_grant_and_puts_exactly_its_headers(fake, client):
    session = fake.new_session(mode="audio_video")
    data = bundle(12)
    result = client.upload_frames(session, 4, data, 12)

    (grant,) = fake.frames_grants
    assert grant.path == f"/sessions/{session}/frames" and grant.query == {"windowIndex": "4"}
    assert json.loads(grant.body) == {"sizeBytes": len(data), "frameCount": 12, "sha256": b64sha(data)}
    (put,) = fake.puts
    assert put.headers["content-type"] == "application/zip"
    assert put.headers["x-amz-meta-frame-count"] == "12"
    assert put.headers["if-none-match"] == "*"
    assert put.body == data and "authorization" not in put.headers
    assert (result.window, result.half, result.size_bytes, result.already_stored) == (4, "frames", len(data), False)
    assert fake.halves[session][4]["frames"]["sizeBytes"] == len(data)


def test_the_frame_count_is_the_archives_entry_count_when_not_given(fake, client, tmp_path):
    session = fake.new_session(mode="audio_video")
    path = tmp_path / "window_000.zip"
    path.write_bytes(bundle(5, directories=1))  # counted as the API counts: every entry of the central directory
    client.upload_frames(session, 0, path)
    assert json.loads(fake.frames_grants[0].body)["frameCount"] == 6 == frame_count(path)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"RIFF not a zip", "the frames bundle is not a ZIP archive"),
        (bundle(0), "the frames bundle holds 0 frames: a window holds 1 to 3600"),
        (bundle(3601), "the frames bundle holds 3601 frames: a window holds 1 to 3600"),
    ],
)
def test_a_bundle_that_is_no_zip_of_frames_is_a_usage_error_before_anything_is_sent(fake, client, data, message):
    session = fake.new_session(mode="audio_video")
    with pytest.raises(UsageError, match=f"^{message}$"):
        client.upload_frames(session, 0, data)
    assert fake.requests == []


@pytest.mark.parametrize("count", [0, -1, 3601, True, 2.0, "3"])
def test_a_declared_frame_count_out_of_range_is_a_usage_error(fake, client, count):
    session = fake.new_session(mode="audio_video")
    with pytest.raises(UsageError, match="frame_count must be an integer from 1 to 3600"):
        client.upload_frames(session, 0, bundle(3), count)
    assert fake.requests == []


def test_frames_for_an_audio_only_session_fail_at_once_with_the_apis_message(fake, client, sleeps):
    session = fake.new_session(mode="audio_only")
    with pytest.raises(UploadError) as raised:
        client.upload_frames(session, 1, bundle(2))
    assert str(raised.value) == (
        "window 1 (frames): HTTP 400: frames: this session's captureMode is audio_only, which records no frames"
    )
    assert (raised.value.half, raised.value.status) == ("frames", 400)
    assert sleeps == [] and fake.puts == []


def test_transient_failures_of_the_frames_put_are_retried_with_a_fresh_grant(fake, client, sleeps):
    session = fake.new_session(mode="audio_video")
    fake.script("put", (503, "<Error><Code>SlowDown</Code><Message>slow</Message></Error>"), "drop")
    result = client.upload_frames(session, 0, bundle(2))
    assert result.attempts == 3 and len(fake.frames_grants) == 3 and sleeps == [0.5, 1.0]


# --- upload_dir -----------------------------------------------------------------------------------------------------


@with_and_without_prefetch
def test_upload_dir_uploads_each_windows_audio_and_frames_with_their_frame_counts(fake, client, tmp_path, prefetch):
    write_dir(tmp_path, audio=range(4), frames=range(4))
    (tmp_path / "window_0004.zip").write_bytes(bundle(1))  # a non-canonical alias: ignored
    session = fake.new_session(mode="audio_video")

    result = client.upload_dir(session, tmp_path, concurrency=3, prefetch=prefetch)

    assert (result.uploaded, result.skipped, result.failed, result.incomplete) == ([0, 1, 2, 3], [], {}, {})
    assert result.halves_uploaded == {"audio": 4, "frames": 4}
    assert {window: body["frameCount"] for window, body in fake.asked("frames")} == {w: 3 + w for w in range(4)}
    assert fake.sessions[session] == {0, 1, 2, 3}
    for window in range(4):  # a window's audio goes before its frames
        assert [put.path.split("/")[4] for put in fake.puts if put.path.split("/")[3] == str(window)] == [
            "audio", "frames"
        ]


@with_and_without_prefetch
def test_upload_dir_resumes_each_half_on_its_own(fake, client, tmp_path, prefetch):
    write_dir(tmp_path, audio=range(4), frames=range(4))
    stored = {0: {"audio": b"a", "frames": b"f"}, 1: {"audio": b"a"}, 2: {"frames": b"f"}}
    session = fake.new_session(mode="audio_video", stored=stored)

    result = client.upload_dir(session, tmp_path, concurrency=2, prefetch=prefetch)

    assert (result.uploaded, result.skipped, result.failed) == ([1, 2, 3], [0], {})
    assert sorted(window for window, _ in fake.asked("audio")) == [2, 3]
    assert sorted(window for window, _ in fake.asked("frames")) == [1, 3]
    assert result.halves_uploaded == {"audio": 2, "frames": 2}
    assert fake.sessions[session] == {0, 1, 2, 3}
    again = client.upload_dir(session, tmp_path)
    assert (again.uploaded, again.skipped) == ([], [0, 1, 2, 3])


def test_upload_dir_pages_through_the_windows_route(fake, client, tmp_path, monkeypatch):
    monkeypatch.setattr(uploader, "WINDOWS_PAGE", 2)
    write_dir(tmp_path, audio=range(7), frames=range(7))
    # Window 5's audio alone: the status counts a half outside its recorded windows, so only the windows route tells.
    session = fake.new_session(mode="audio_video", recorded=set(range(5)), stored={5: {"audio": AUDIO + bytes([5])}})

    result = client.upload_dir(session, tmp_path)

    assert (result.uploaded, result.skipped) == ([5, 6], [0, 1, 2, 3, 4])
    assert [window for window, _ in fake.asked("audio")] == [6]
    assert sorted(window for window, _ in fake.asked("frames")) == [5, 6]
    pages = [r.query for r in fake.of("GET", f"/sessions/{session}/windows")]
    assert pages == [{"from": "0", "limit": "2"}, {"from": "2", "limit": "2"}, {"from": "4", "limit": "2"}]


@pytest.mark.parametrize("mode", ["audio_only", "audio_video"])
def test_upload_dir_resumes_from_the_status_alone_when_every_half_held_is_in_a_whole_window(
    fake, client, tmp_path, mode
):
    write_dir(tmp_path, audio=range(3, 8), frames=range(3, 8) if mode == "audio_video" else ())
    session = fake.new_session(mode=mode, recorded={0, 1, 2, 3, 4, 9})
    fresh = fake.new_session(mode=mode)

    result = client.upload_dir(session, tmp_path)
    assert (result.uploaded, result.skipped, result.failed) == ([5, 6, 7], [3, 4], {})
    assert sorted(window for window, _ in fake.asked("audio")) == [5, 6, 7]
    assert fake.sessions[session] == {0, 1, 2, 3, 4, 5, 6, 7, 9}
    assert client.upload_dir(fresh, tmp_path).uploaded == [3, 4, 5, 6, 7]
    # One status read each, and not one page of the windows route.
    assert [r.path for r in fake.of("GET", "/sessions/")] == [f"/sessions/{session}", f"/sessions/{fresh}"]


def test_upload_dir_reads_the_windows_route_when_the_status_says_too_little(fake, client, tmp_path):
    write_dir(tmp_path, audio=range(3))
    session = fake.new_session(recorded={1})
    fake.script("status", (200, {"sessionId": session, "captureMode": "audio_only", "status": "recording"}))

    result = client.upload_dir(session, tmp_path)

    assert (result.uploaded, result.skipped) == ([0, 2], [1])
    assert len(fake.of("GET", f"/sessions/{session}/windows")) == 1


def test_upload_dir_reports_the_windows_that_lack_a_half_the_session_needs(fake, client, tmp_path):
    write_dir(tmp_path, audio=[0, 1], frames=[0, 2])
    video = fake.new_session(mode="audio_video")
    result = client.upload_dir(video, tmp_path)
    assert result.ok and result.incomplete == {1: ("frames",), 2: ("audio",)}
    assert fake.sessions[video] == {0}

    audio_only = fake.new_session(mode="audio_only")
    (tmp_path / window_filename(0, "frames")).unlink()
    (tmp_path / window_filename(2, "frames")).unlink()
    assert client.upload_dir(audio_only, tmp_path).incomplete == {}


@with_and_without_prefetch
def test_a_bad_bundle_fails_its_window_only(fake, client, tmp_path, prefetch):
    write_dir(tmp_path, audio=range(3), frames=range(3))
    (tmp_path / window_filename(1, "frames")).write_bytes(b"not a zip")
    session = fake.new_session(mode="audio_video")

    result = client.upload_dir(session, tmp_path, concurrency=1, prefetch=prefetch)

    assert result.uploaded == [0, 2] and list(result.failed) == [1]
    error = result.failed[1]
    assert (error.window, error.half) == (1, "frames")
    assert str(error) == f"window 1 (frames): {tmp_path / 'window_001.zip'} is not a ZIP archive"
    assert 1 in fake.halves[session] and "audio" in fake.halves[session][1]  # its audio went first


def test_upload_dir_reports_bytes_of_both_halves_and_each_kind_of_half_completed(fake, client, tmp_path):
    write_dir(tmp_path, audio=range(3), frames=range(2))
    session = fake.new_session(mode="audio_video")
    sent: list[tuple[int, int]] = []
    halves: list[tuple[str, int, int]] = []

    client.upload_dir(session, tmp_path, concurrency=2, progress=lambda s, t: sent.append((s, t)),
                      halves=lambda *h: halves.append(h))

    total = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert sent[0] == (0, total) and sent[-1] == (total, total)
    assert halves[:2] == [("audio", 0, 3), ("frames", 0, 2)]
    assert sorted(h for h in halves[2:]) == [("audio", 1, 3), ("audio", 2, 3), ("audio", 3, 3), ("frames", 1, 2),
                                             ("frames", 2, 2)]


@with_and_without_prefetch
def test_a_half_found_already_stored_counts_as_sent(fake, client, tmp_path, prefetch):
    write_dir(tmp_path, audio=[0], frames=[0])
    audio = (tmp_path / window_filename(0)).read_bytes()
    session = fake.new_session(mode="audio_video", stored={0: {"audio": audio}})
    fake.script("grant", (409, {"error": "window 0's audio is already recorded"}))  # a grant that checks write-once
    sent: list[tuple[int, int]] = []

    result = client.upload_dir(session, tmp_path, resume=False, prefetch=prefetch, progress=lambda s, t: sent.append((s, t)))

    total = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert result.ok and sent[-1] == (total, total) and len(fake.puts) == 1  # the frames only
