"""UploadClient against the fake API and S3: grants, exact headers, retries, errors, resume and progress."""

from __future__ import annotations

import json

import pytest

from client import ApiError, Backoff, UploadClient, UploadError, window_filename
from client.retry import is_transient
from tests.client.conftest import BAD_SIGNATURE, EXPIRED, TOKEN, b64sha, with_and_without_prefetch

AUDIO = b"RIFF" + bytes(range(256)) * 40


def test_put_carries_exactly_the_granted_headers_and_never_the_token(fake, client):
    session = fake.new_session()
    result = client.upload_window(session, 7, AUDIO)

    (grant,) = fake.grants
    assert grant.query == {"windowIndex": "7"}
    assert grant.headers["authorization"] == f"Bearer {TOKEN}"
    (put,) = fake.puts
    assert put.headers["content-type"] == "audio/wav"
    assert put.headers["content-length"] == str(len(AUDIO))
    assert put.headers["x-amz-checksum-sha256"] == b64sha(AUDIO)
    assert "authorization" not in put.headers
    assert put.body == AUDIO
    assert (result.window, result.size_bytes, result.attempts) == (7, len(AUDIO), 1)


def test_grant_asks_for_the_exact_size_and_the_base64_sha256_of_a_file(fake, client, tmp_path):
    path = tmp_path / "w.wav"
    path.write_bytes(AUDIO * 50)  # streamed from disk in blocks
    session = fake.new_session()
    client.upload_window(session, 0, path)

    assert json.loads(fake.grants[0].body) == {"sizeBytes": len(AUDIO) * 50, "sha256": b64sha(AUDIO * 50)}
    assert fake.puts[0].body == AUDIO * 50
    assert fake.sessions[session] == {0}


def test_sha256_can_be_left_out(fake):
    session = fake.new_session()
    with UploadClient(fake.base_url, TOKEN, send_sha256=False) as c:
        c.upload_window(session, 0, AUDIO)
    assert b"sha256" not in fake.grants[0].body
    assert "x-amz-checksum-sha256" not in fake.puts[0].headers


@pytest.mark.parametrize(
    "failure",
    [(500, "<Error><Code>InternalError</Code><Message>oops</Message></Error>"), (503, ""), EXPIRED, "drop"],
    ids=["s3-500", "s3-503", "expired-url", "connection-dropped"],
)
def test_transient_put_failures_are_retried_with_a_fresh_grant_and_backoff(fake, client, sleeps, failure):
    session = fake.new_session()
    fake.script("put", failure, failure)
    result = client.upload_window(session, 2, AUDIO)

    assert result.attempts == 3
    assert len(fake.grants) == 3
    urls = [put.query["X-Amz-Signature"] for put in fake.puts]
    assert len(set(urls)) == 3  # each attempt PUT to the URL of its own grant
    assert sleeps == [0.5, 1.0]  # exponential: base * 2**retry
    assert fake.sessions[session] == {2}


@pytest.mark.parametrize(
    "failure", [(429, {"message": "Too Many Requests"}), (502, {"message": "Bad Gateway"}), "drop"]
)
def test_transient_grant_failures_are_retried(fake, client, sleeps, failure):
    session = fake.new_session()
    fake.script("grant", failure)
    assert client.upload_window(session, 1, AUDIO).attempts == 2
    assert len(sleeps) == 1
    assert len(fake.puts) == 1


def test_a_rejected_put_is_not_retried_and_names_window_status_and_s3_message(fake, client, sleeps):
    session = fake.new_session()
    fake.script("put", BAD_SIGNATURE)
    with pytest.raises(UploadError) as raised:
        client.upload_window(session, 4, AUDIO)

    error = raised.value
    assert (error.window, error.status, error.attempts) == (4, 403, 1)
    assert str(error) == (
        "window 4: HTTP 403: SignatureDoesNotMatch: The request signature we calculated does not match"
    )
    assert len(fake.grants) == 1 and sleeps == []


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (409, {"error": "session is ready: it no longer accepts uploads"}, "session is ready: it no longer accepts"),
        (400, {"error": "sizeBytes: must be an integer from 1 to 10485760"}, "sizeBytes: must be an integer"),
        (401, {"message": "Unauthorized"}, "Unauthorized"),
    ],
)
def test_a_refused_grant_is_not_retried_and_carries_the_api_message(fake, client, sleeps, status, body, message):
    session = fake.new_session()
    fake.script("grant", (status, body))
    with pytest.raises(UploadError, match=f"^window 9: HTTP {status}: {message}") as raised:
        client.upload_window(session, 9, AUDIO)
    assert raised.value.status == status
    assert fake.puts == [] and sleeps == []


def test_giving_up_after_the_retries_reports_the_last_failure(fake, sleeps):
    session = fake.new_session()
    fake.script("put", "drop", "drop", "drop")
    with UploadClient(fake.base_url, TOKEN, retries=2, sleep=sleeps.append) as c:
        with pytest.raises(UploadError) as raised:
            c.upload_window(session, 0, AUDIO)
    assert raised.value.attempts == 3 and raised.value.status is None
    assert "upload to storage failed" in str(raised.value)
    assert len(sleeps) == 2
    assert all(0 <= delay <= 0.5 * 2**n for n, delay in enumerate(sleeps))  # full jitter stays under the ceiling


def test_backoff_is_full_jitter_capped():
    assert Backoff(rand=lambda: 0.0).delay(3) == 0.0
    assert Backoff(base=0.5, cap=20.0, rand=lambda: 1.0).delay(10) == 20.0
    assert Backoff(base=0.5, rand=lambda: 0.5).delay(2) == 1.0


@pytest.mark.parametrize(
    ("status", "code", "message", "transient"),
    [
        (403, "AccessDenied", "Request has expired", True),
        (403, "AccessDenied", "Access Denied", False),
        (400, "BadDigest", "The sha256 you specified did not match", False),
        (400, "RequestTimeout", "Your socket connection to the server was not read from", True),
        (404, None, "session not found", False),
        (429, None, "Too Many Requests", True),
        (504, None, "", True),
    ],
)
def test_which_failures_are_transient(status, code, message, transient):
    assert is_transient(status, code, message) is transient


@with_and_without_prefetch
def test_upload_dir_skips_recorded_windows_and_ignores_other_files(fake, client, tmp_path, prefetch):
    for window in range(6):
        (tmp_path / window_filename(window)).write_bytes(AUDIO + bytes([window]))
    (tmp_path / "notes.txt").write_text("not audio")
    (tmp_path / "window_0007.wav").write_bytes(AUDIO)  # a non-canonical alias of window 7
    session = fake.new_session(recorded={1, 3})
    result = client.upload_dir(session, tmp_path, concurrency=3, prefetch=prefetch)

    assert (result.uploaded, result.skipped, result.failed) == ([0, 2, 4, 5], [1, 3], {})
    assert sorted(window for window, _ in fake.asked("audio")) == [0, 2, 4, 5]
    assert fake.sessions[session] == set(range(6))
    assert client.upload_dir(session, tmp_path).uploaded == []  # a second run has nothing left to do


@with_and_without_prefetch
def test_upload_dir_reports_each_failed_window_and_uploads_the_rest(fake, client, tmp_path, prefetch):
    for window in range(3):
        (tmp_path / window_filename(window)).write_bytes(AUDIO)
    session = fake.new_session()
    fake.refuse(1, "audio", 400, {"error": "sizeBytes: too big"})
    result = client.upload_dir(session, tmp_path, concurrency=1, prefetch=prefetch)

    assert not result.ok
    ((window, error),) = result.failed.items()
    assert window == error.window == 1 and "sizeBytes: too big" in str(error)
    assert result.uploaded == [0, 2]


@with_and_without_prefetch
def test_upload_dir_progress_counts_every_byte_once_despite_retries(fake, client, tmp_path, prefetch):
    for window in range(4):
        (tmp_path / window_filename(window)).write_bytes(AUDIO * 20)
    session = fake.new_session()
    fake.script("put", "drop")  # one attempt's bytes are sent twice
    calls: list[tuple[int, int]] = []
    client.upload_dir(session, tmp_path, concurrency=2, prefetch=prefetch, progress=lambda sent, total: calls.append((sent, total)))

    total = 4 * len(AUDIO) * 20
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert all(0 <= sent <= total for sent, _ in calls)


def test_status_and_complete_send_the_contract_bodies(fake, client):
    session = fake.new_session(recorded={0, 1})
    assert client.status(session)["recordedWindows"] == [[0, 0], [1, 1]]
    assert client.complete(session, 2)["sessionId"] == session
    (request,) = fake.of("POST", f"/sessions/{session}/complete")
    assert request.body == b'{"expectedWindowCount": 2}'


def test_a_complete_whose_answer_was_lost_is_not_reported_as_a_conflict(fake, client, sleeps):
    session = fake.new_session(recorded={0, 1})
    ready = fake.status_body(session) | {"status": "ready", "expectedWindowCount": 2}
    # The first attempt made the session ready but its answer never came; the retry is refused as a conflict.
    fake.script("complete", "drop", (409, {"error": "session is already ready"}))
    fake.script("status", (200, ready))
    assert client.complete(session, 2) == ready
    assert len(fake.of("POST", f"/sessions/{session}/complete")) == 2


def test_a_complete_with_another_count_is_still_a_conflict(fake, client):
    session = fake.new_session(recorded={0, 1})
    fake.script("complete", (409, {"error": "expectedWindowCount: session is finalizing with 3 windows, not 2"}))
    fake.script("status", (200, fake.status_body(session) | {"status": "finalizing", "expectedWindowCount": 3}))
    with pytest.raises(ApiError, match="HTTP 409: expectedWindowCount") as raised:
        client.complete(session, 2)
    assert raised.value.status == 409


def test_a_missing_session_is_an_api_error_with_the_server_message(fake, client):
    with pytest.raises(ApiError, match="HTTP 404: session not found") as raised:
        client.status("2b0c3a4e-0000-4000-8000-000000000000")
    assert raised.value.status == 404


def test_status_is_retried_but_create_session_never_is(fake, client, sleeps):
    session = fake.new_session()
    fake.script("status", (503, {"message": "Service Unavailable"}), "drop")
    assert client.status(session)["sessionId"] == session
    assert sleeps == [0.5, 1.0]

    # A lost answer may mean the session exists: retrying would create a second one.
    fake.script("create", "drop")
    with pytest.raises(ApiError, match=r"^create session: cannot reach the API"):
        client.create_session()
    assert len(fake.of("POST", "/sessions")) == 1 and len(sleeps) == 2
    assert client.create_session("audio_video")["captureMode"] == "audio_video"


def test_a_wrong_token_is_a_clear_api_error(fake):
    with UploadClient(fake.base_url, "wrong-token") as c:
        with pytest.raises(ApiError, match="^create session: HTTP 401: Unauthorized$"):
            c.create_session()
