"""POST /sessions/{id}/frames under moto: the frames bundle's grant, its signed frame count, and every refusal."""

import base64
import hashlib
import uuid
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
import requests

from handlers import contract, cors, layout
from tests.conftest import BUCKET, REGION
from tests.handlers.test_api import set_status

FRAMES = 120


def frames(api, session_id, window, size=4096, frame_count=FRAMES, sha256=None, user="alice", **extra):
    body = {"sizeBytes": size, "frameCount": frame_count, **extra}
    if sha256 is not None:
        body["sha256"] = sha256
    return api.call("POST", f"/sessions/{session_id}/frames", query={"windowIndex": str(window)}, body=body, user=user)


def signed_headers(grant) -> list[str]:
    return parse_qs(urlparse(grant["url"]).query)["X-Amz-SignedHeaders"][0].split(";")


def test_the_grant_is_a_presigned_put_of_the_windows_zip_binding_its_frame_count(api):
    sid = api.create("audio_video")
    status, grant = frames(api, sid, 7, size=2_000_000, frame_count=FRAMES)
    assert status == 200, grant
    key = layout.frames_key(sid, 7)
    assert (grant["s3Key"], grant["windowIndex"], grant["expiresIn"]) == (key, 7, 300)
    assert grant["headers"] == {
        "Content-Type": "application/zip",
        "Content-Length": "2000000",
        "If-None-Match": "*",
        "x-amz-meta-frame-count": str(FRAMES),
    }
    url = urlparse(grant["url"])
    assert (url.scheme, url.netloc, url.path) == ("https", f"{BUCKET}.s3.{REGION}.amazonaws.com", f"/{key}")
    # The count is a signed header, not a query parameter: a PUT that drops or changes it fails the signature.
    assert signed_headers(grant) == [
        "content-length", "content-type", "host", "if-none-match", f"x-amz-meta-{contract.FRAME_COUNT_METADATA}"
    ]
    assert not [name for name in parse_qs(url.query) if name.lower().startswith("x-amz-meta-")]


def test_with_a_sha256_every_returned_header_is_signed(api):
    sid = api.create("audio_video")
    digest = base64.b64encode(hashlib.sha256(b"PK\x05\x06" + bytes(18)).digest()).decode()
    status, grant = frames(api, sid, 0, size=22, frame_count=1, sha256=digest)
    assert status == 200, grant
    assert grant["headers"]["x-amz-checksum-sha256"] == digest
    assert sorted(signed_headers(grant)) == sorted([h.lower() for h in grant["headers"]] + ["host"])


def test_a_browser_may_send_every_header_the_frames_grant_binds(api):
    sid = api.create("audio_video")
    _, grant = frames(api, sid, 0, sha256=base64.b64encode(bytes(32)).decode())
    assert {name.lower() for name in grant["headers"]} - {"content-length"} <= set(cors.BUCKET_ALLOWED_HEADERS)


def test_the_stored_bundle_carries_the_granted_frame_count_as_metadata(api):
    """What the completion path reads back with HeadObject (moto stores what the PUT sent; the presign gate's own
    tests show that a PUT without the signed header, or with another count, is refused)."""
    sid = api.create("audio_video")
    body = b"PK\x05\x06" + bytes(18)
    _, grant = frames(api, sid, 3, size=len(body), frame_count=42)
    assert requests.put(grant["url"], data=body, headers=grant["headers"], timeout=10).status_code == 200
    head = boto3.client("s3", region_name=REGION).head_object(Bucket=BUCKET, Key=layout.frames_key(sid, 3))
    assert (head["ContentType"], head["Metadata"]) == ("application/zip", {contract.FRAME_COUNT_METADATA: "42"})


def test_each_half_has_its_own_size_limit(api):
    sid = api.create("audio_video")
    between = contract.DEFAULT_MAX_AUDIO_BYTES + 1  # too large for audio, a fine frames bundle
    assert frames(api, sid, 0, size=between)[0] == 200
    assert frames(api, sid, 0, size=contract.DEFAULT_MAX_FRAMES_BYTES)[0] == 200
    status, error = frames(api, sid, 0, size=contract.DEFAULT_MAX_FRAMES_BYTES + 1)
    assert (status, error) == (400, {"error": f"sizeBytes: must be an integer from 1 to {contract.DEFAULT_MAX_FRAMES_BYTES}"})
    status, error = api.grant(sid, 0, size=between)
    assert status == 400 and str(contract.DEFAULT_MAX_AUDIO_BYTES) in error["error"]


def test_an_audio_video_session_still_gets_audio_grants(api):
    sid = api.create("audio_video")
    status, grant = api.grant(sid, 4)
    assert status == 200 and grant["s3Key"] == layout.audio_key(sid, 4)
    assert "x-amz-meta-frame-count" not in grant["headers"]


@pytest.mark.parametrize(
    "query, body, field",
    [
        ({}, {"sizeBytes": 10, "frameCount": 1}, "windowIndex"),
        ({"windowIndex": "-1"}, {"sizeBytes": 10, "frameCount": 1}, "windowIndex"),
        ({"windowIndex": str(layout.MAX_WINDOW_INDEX + 1)}, {"sizeBytes": 10, "frameCount": 1}, "windowIndex"),
        ({"windowIndex": "abc"}, {"sizeBytes": 10, "frameCount": 1}, "windowIndex"),
        ({"windowIndex": "1.0"}, {"sizeBytes": 10, "frameCount": 1}, "windowIndex"),
        ({"windowIndex": ""}, {"sizeBytes": 10, "frameCount": 1}, "windowIndex"),
        ({"windowIndex": "1"}, {"frameCount": 1}, "sizeBytes"),
        ({"windowIndex": "1"}, {"sizeBytes": 0, "frameCount": 1}, "sizeBytes"),
        ({"windowIndex": "1"}, {"sizeBytes": -5, "frameCount": 1}, "sizeBytes"),
        ({"windowIndex": "1"}, {"sizeBytes": contract.DEFAULT_MAX_FRAMES_BYTES + 1, "frameCount": 1}, "sizeBytes"),
        ({"windowIndex": "1"}, {"sizeBytes": "100", "frameCount": 1}, "sizeBytes"),
        ({"windowIndex": "1"}, {"sizeBytes": True, "frameCount": 1}, "sizeBytes"),
        ({"windowIndex": "1"}, {"sizeBytes": 1.5, "frameCount": 1}, "sizeBytes"),
        ({"windowIndex": "1"}, {"sizeBytes": 10}, "frameCount"),
        ({"windowIndex": "1"}, {"sizeBytes": 10, "frameCount": 0}, "frameCount"),
        ({"windowIndex": "1"}, {"sizeBytes": 10, "frameCount": -1}, "frameCount"),
        ({"windowIndex": "1"}, {"sizeBytes": 10, "frameCount": contract.MAX_FRAMES_PER_WINDOW + 1}, "frameCount"),
        ({"windowIndex": "1"}, {"sizeBytes": 10, "frameCount": "12"}, "frameCount"),
        ({"windowIndex": "1"}, {"sizeBytes": 10, "frameCount": True}, "frameCount"),
        ({"windowIndex": "1"}, {"sizeBytes": 10, "frameCount": 1.5}, "frameCount"),
        ({"windowIndex": "1"}, {"sizeBytes": 10, "frameCount": 12.0}, "frameCount"),
        ({"windowIndex": "1"}, {"sizeBytes": 10, "frameCount": None}, "frameCount"),
        ({"windowIndex": "1"}, {"sizeBytes": 10, "frameCount": [12]}, "frameCount"),
        ({"windowIndex": "1"}, {"sizeBytes": 10, "frameCount": 1, "sha256": "not base64!"}, "sha256"),
        ({"windowIndex": "1"}, {"sizeBytes": 10, "frameCount": 1, "sha256": base64.b64encode(b"short").decode()},
         "sha256"),
        ({"windowIndex": "1"}, {"sizeBytes": 10, "frameCount": 1, "sha256": 12}, "sha256"),
        ({"windowIndex": "1"}, {"sizeBytes": 10, "frameCount": 1, "frames": 1}, "frames"),
        ({"windowIndex": "1"}, {"sizeBytes": 10, "frameCount": 1, "captureMode": "audio_video"}, "captureMode"),
    ],
)
def test_every_bad_input_is_a_400_naming_the_field(api, query, body, field):
    sid = api.create("audio_video")
    status, response = api.call("POST", f"/sessions/{sid}/frames", query=query, body=body)
    assert status == 400, response
    assert response["error"].startswith(f"{field}: ") or f"; {field}: " in response["error"], response


def test_the_limits_themselves_are_granted(api):
    sid = api.create("audio_video")
    for frame_count in (1, contract.MAX_FRAMES_PER_WINDOW):
        status, grant = frames(api, sid, layout.MAX_WINDOW_INDEX, size=1, frame_count=frame_count)
        assert status == 200 and grant["headers"]["x-amz-meta-frame-count"] == str(frame_count)


def test_an_audio_only_session_is_refused_with_a_400_naming_the_frames(api):
    sid = api.create("audio_only")
    status, response = frames(api, sid, 0)
    assert (status, response) == (
        400,
        {"error": "frames: this session's captureMode is audio_only, which records no frames"},
    )
    # Even once it no longer records: the request could never have been granted.
    set_status(sid, "finalizing")
    assert frames(api, sid, 0)[0] == 400


def test_another_callers_session_and_an_unknown_one_are_the_same_404(api):
    sid = api.create("audio_video", user="alice")
    foreign = frames(api, sid, 0, user="mallory")
    unknown = frames(api, str(uuid.uuid4()), 0)
    assert foreign == unknown == (404, {"error": "session not found"})
    # Without revealing the session's capture mode either.
    audio_only = api.create("audio_only", user="alice")
    assert frames(api, audio_only, 0, user="mallory") == (404, {"error": "session not found"})


def test_a_caller_is_required(api):
    sid = api.create("audio_video")
    assert frames(api, sid, 0, user=None) == (401, {"error": "missing or invalid bearer token"})


@pytest.mark.parametrize("state", ["finalizing", "ready", "incomplete"])
def test_a_session_no_longer_recording_is_a_409(api, state):
    sid = api.create("audio_video")
    set_status(sid, state)
    status, response = frames(api, sid, 0)
    assert status == 409 and state in response["error"]
