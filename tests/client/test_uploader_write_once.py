"""UploadClient and write-once grants: If-None-Match sent as granted, and a key already stored (S3's 412, or the grant's
409) resolved against the windows route: these very bytes are an upload done, other bytes an error."""

from __future__ import annotations

import pytest

from client import UploadClient, UploadError
from tests.client.conftest import EXPIRED, TOKEN, half_record
from tests.client.conftest import frames_bundle as zip_of

AUDIO = b"RIFF" + bytes(range(256)) * 40
OTHER = b"RIFF" + bytes(reversed(range(256))) * 40  # the same size, other bytes
INTERNAL_ERROR = (500, "<Error><Code>InternalError</Code><Message>oops</Message></Error>")
NOT_YET = (200, {"windows": [], "next": None})  # the windows route before the completion path recorded the half


def test_the_put_carries_the_granted_if_none_match(fake, client):
    session = fake.new_session()
    headers = {"Content-Type": "audio/wav", "Content-Length": str(len(AUDIO)), "If-None-Match": "*"}
    url = f"{fake.base_url}/s3/{session}/0?X-Amz-Signature=write-once"
    fake.script("grant", (200, {"url": url, "s3Key": "k", "windowIndex": 0, "expiresIn": 300, "headers": headers}))

    client.upload_window(session, 0, AUDIO)

    (put,) = fake.puts
    assert put.headers["if-none-match"] == "*"


@pytest.mark.parametrize("lost", ["drop", INTERNAL_ERROR], ids=["drop", "s3-500"])
def test_a_412_after_a_put_whose_answer_was_lost_is_that_put_having_stored_the_window(fake, client, lost):
    session = fake.new_session()
    fake.script("put", ("stored", lost))  # S3 stored the object; its answer never arrived

    result = client.upload_window(session, 3, AUDIO)

    assert (result.window, result.attempts, result.already_stored) == (3, 2, True)
    assert len(fake.puts) == 2 and fake.sessions[session] == {3}
    assert len(fake.of("GET", f"/sessions/{session}/windows")) == 1


def test_without_a_checksum_an_md5_etag_proves_the_same_bytes(fake, sleeps):
    """An ETag that is the MD5 of our bytes is proof; another is none (with SSE-KMS an ETag is no MD5)."""
    session = fake.new_session(stored={3: {"audio": OTHER}})
    fake.halves[session][3]["audio"] = half_record(OTHER, checksum=False)
    with UploadClient(fake.base_url, TOKEN, retries=3, send_sha256=False, sleep=sleeps.append) as client:
        with pytest.raises(UploadError, match=r"already stored \(uploads are write-once\)$"):
            client.upload_window(session, 3, AUDIO)
        fake.halves[session][3]["audio"] = half_record(AUDIO, checksum=False)
        assert client.upload_window(session, 3, AUDIO).already_stored
    assert sleeps == []


def test_the_same_bytes_stored_by_an_earlier_run_are_an_upload_done(fake, client, sleeps):
    session = fake.new_session(stored={4: {"audio": AUDIO}})

    result = client.upload_window(session, 4, AUDIO)

    assert (result.attempts, result.already_stored) == (1, True)
    assert sleeps == [] and len(fake.puts) == 1


@pytest.mark.parametrize("before", [[], [EXPIRED], [("stored", "drop")]], ids=[
    "first-attempt", "after-an-answered-refusal", "after-an-unanswered-put"])
def test_a_412_for_other_bytes_is_an_error_not_retried(fake, client, sleeps, before):
    session = fake.new_session()
    fake.script("put", *before)
    if before != [("stored", "drop")]:
        fake.store(session, 5, "audio", OTHER)
    else:  # our PUT was lost, and yet what the backend recorded is not our bytes (another writer's): proof wins
        fake.script("windows", (200, {"windows": [{"windowIndex": 5, "audio": half_record(OTHER), "frames": None}]}))

    with pytest.raises(UploadError) as raised:
        client.upload_window(session, 5, AUDIO)

    error = raised.value
    assert (error.status, error.attempts) == (412, len(before) + 1)
    assert str(error).startswith(
        "window 5: HTTP 412: the window's audio is already stored (uploads are write-once): the stored one has other "
        "content"
    )
    assert len(fake.puts) == len(before) + 1 and len(sleeps) == len(before)


def test_a_412_before_the_backend_recorded_the_half_is_asked_again(fake, client, sleeps):
    session = fake.new_session(stored={6: {"audio": AUDIO}})
    fake.script("windows", NOT_YET)  # the completion path has not recorded it yet

    result = client.upload_window(session, 6, AUDIO)

    assert (result.attempts, result.already_stored) == (2, True)
    assert sleeps == [0.5]


def test_an_unknown_stored_half_is_ours_only_after_a_put_of_ours_went_unanswered(fake, client):
    """No checksum and no MD5 ETag (SSE-KMS): the bytes cannot be compared."""
    kms = {**half_record(AUDIO, checksum=False), "etag": "0123456789abcdef0123456789abcdef-kms"}
    session = fake.new_session(stored={7: {"audio": AUDIO}})
    fake.halves[session][7]["audio"] = kms
    with pytest.raises(UploadError, match=r"^window 7: HTTP 412: the window's audio is already stored \(uploads are "
                                          r"write-once\)$"):
        client.upload_window(session, 7, AUDIO)

    other = fake.new_session()
    fake.script("put", ("stored", "drop"))
    fake.script("windows", (200, {"windows": [{"windowIndex": 7, "audio": kms, "frames": None}]}))
    assert client.upload_window(other, 7, AUDIO).already_stored


def test_a_409_from_the_grant_for_a_half_already_recorded_is_resolved_without_a_put(fake, client):
    session = fake.new_session(stored={2: {"audio": AUDIO}})
    fake.script("grant", (409, {"error": "window 2's audio is already recorded"}))

    result = client.upload_window(session, 2, AUDIO)

    assert (result.attempts, result.already_stored) == (1, True) and fake.puts == []


def test_a_409_from_the_grant_for_a_half_not_recorded_is_the_sessions_state_and_fails_at_once(fake, client, sleeps):
    session = fake.new_session()
    fake.script("grant", (409, {"error": "session is ready: it no longer accepts uploads"}))

    with pytest.raises(UploadError) as raised:
        client.upload_window(session, 2, AUDIO)

    assert str(raised.value) == "window 2: HTTP 409: session is ready: it no longer accepts uploads"
    assert sleeps == [] and fake.puts == []


def test_the_frames_half_is_resolved_the_same_way(fake, client):
    bundle = zip_of(3)
    session = fake.new_session(mode="audio_video", stored={1: {"frames": bundle}, 2: {"frames": zip_of(4)[:len(bundle)]}})

    assert client.upload_frames(session, 1, bundle).already_stored
    with pytest.raises(UploadError, match=r"^window 2 \(frames\): HTTP 412: the window's frames bundle is already stored"):
        client.upload_frames(session, 2, bundle)
    fake.script("put", ("stored", "drop"))
    result = client.upload_frames(session, 3, bundle)
    assert (result.half, result.attempts, result.already_stored) == ("frames", 2, True)
