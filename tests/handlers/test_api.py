"""The API Lambda under moto: every route, every documented error, and the presigned URL taken apart."""

import base64
import hashlib
import re
import uuid
from datetime import datetime
from urllib.parse import parse_qs, urlparse

import boto3
import pytest

from handlers import contract, cors, layout
from handlers.dal.sessions_table import HEADER_SK
from tests.conftest import BUCKET, REGION, TABLE


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def set_status(session_id, status):
    boto3.resource("dynamodb", region_name=REGION).Table(TABLE).update_item(
        Key={"sessionId": session_id, "sk": HEADER_SK},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": status},
    )


# --- POST /sessions ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", contract.CAPTURE_MODES)
def test_create_session_returns_201_and_stores_the_owner(api, mode):
    status, body = api.call("POST", "/sessions", body={"captureMode": mode})
    assert status == 201
    assert set(body) == {"sessionId", "captureMode", "status", "createdAt"}
    assert uuid.UUID(body["sessionId"]).version == 4
    assert (body["captureMode"], body["status"]) == (mode, "recording")
    datetime.fromisoformat(body["createdAt"].replace("Z", "+00:00"))
    item = (
        boto3.resource("dynamodb", region_name=REGION)
        .Table(TABLE)
        .get_item(Key={"sessionId": body["sessionId"], "sk": HEADER_SK})["Item"]
    )
    assert item["userId"] == "alice"
    assert item[contract.TTL_ATTRIBUTE] > datetime.now().timestamp() + 29 * 86400


@pytest.mark.parametrize(
    "body, field",
    [
        ('{"captureMode": "video_only"}', "captureMode"),
        ('{"captureMode": 1}', "captureMode"),
        ("{}", "captureMode"),
        ('{"captureMode": "audio_only", "extra": 1}', "extra"),
        ("[]", "body"),
        ('"audio_only"', "body"),
        ("not json", "body"),
        (None, "body"),
    ],
)
def test_create_session_rejects_bad_bodies_with_400_naming_the_field(api, body, field):
    status, response = api.call("POST", "/sessions", body=body, raw=True)
    assert status == 400
    assert field in response["error"]


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"])
def test_a_body_that_is_not_declared_json_gets_a_400_that_says_so(api, content_type):
    status, response = api.call(
        "POST", "/sessions", body={"captureMode": "audio_only"}, headers={"Content-Type": content_type}
    )
    assert status == 400
    assert response == {"error": f"Content-Type must be application/json, not {content_type}"}


@pytest.mark.parametrize("content_type", ["application/json", None])
def test_a_body_that_is_not_utf8_gets_a_400_not_a_500(api, content_type):
    sid = api.create()
    headers = {"Content-Type": content_type} if content_type else None
    for path, query in (
        ("/sessions", None),
        (f"/sessions/{sid}/audio", {"windowIndex": "0"}),
        (f"/sessions/{sid}/complete", None),
    ):
        status, response = api.call("POST", path, body=b"\x80{}", query=query, raw=True, headers=headers)
        assert (status, response) == (400, {"error": "the request body is not UTF-8 text, so it is not JSON"}), path


def test_every_route_requires_a_caller(api):
    sid = api.create()
    for method, path, body in (
        ("POST", "/sessions", {"captureMode": "audio_only"}),
        ("GET", f"/sessions/{sid}", None),
        ("POST", f"/sessions/{sid}/audio?windowIndex=0", {"sizeBytes": 1}),
    ):
        path, _, query = path.partition("?")
        status, response = api.call(method, path, body=body, query=query or None, user=None)
        assert (status, response) == (401, {"error": "missing or invalid bearer token"})


# --- GET /sessions/{id} -----------------------------------------------------------------------------------------


def test_get_session_returns_the_status_body(api):
    sid = api.create("audio_video")
    status, body = api.call("GET", f"/sessions/{sid}")
    assert status == 200
    assert body == {
        "sessionId": sid,
        "captureMode": "audio_video",
        "status": "recording",
        "createdAt": body["createdAt"],
        "expectedWindowCount": None,
        "counts": {"audio": 0, "frames": 0, "recorded": 0, "ingested": 0, "invalid": 0},
        "recordedWindows": [],
        "ingestedWindows": [],
        "missingWindows": [],
        "invalidWindows": [],
        "unexpectedWindows": [],
    }


def test_a_session_is_invisible_to_other_callers_and_unknown_ids_look_the_same(api):
    sid = api.create(user="alice")
    foreign = api.call("GET", f"/sessions/{sid}", user="mallory")
    unknown = api.call("GET", f"/sessions/{uuid.uuid4()}", user="mallory")
    malformed = api.call("GET", "/sessions/../../etc", user="mallory")
    assert foreign == unknown == (404, {"error": "session not found"})
    assert malformed[0] == 404
    assert api.grant(sid, 0, user="mallory") == (404, {"error": "session not found"})


def test_unknown_route_is_a_json_404(api):
    assert api.call("GET", "/nothing-here") == (404, {"error": "no such route"})


# --- POST /sessions/{id}/audio ----------------------------------------------------------------------------------


def test_grant_is_a_sigv4_url_on_the_regional_endpoint_binding_type_and_length(api):
    sid = api.create()
    status, grant = api.grant(sid, 7, size=2_000_000)
    assert status == 200
    key = layout.audio_key(sid, 7)
    assert grant["s3Key"] == key and grant["windowIndex"] == 7 and grant["expiresIn"] == 300
    assert grant["headers"] == {"Content-Type": "audio/wav", "Content-Length": "2000000", "If-None-Match": "*"}
    url = urlparse(grant["url"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.scheme == "https"
    assert url.netloc == f"{BUCKET}.s3.{REGION}.amazonaws.com"
    assert url.path == f"/{key}"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "300"
    assert re.fullmatch(rf"[^/]+/\d{{8}}/{REGION}/s3/aws4_request", query["X-Amz-Credential"])
    assert query["X-Amz-SignedHeaders"].split(";") == ["content-length", "content-type", "host", "if-none-match"]
    assert re.fullmatch(r"[0-9a-f]{64}", query["X-Amz-Signature"])


def test_grant_with_sha256_signs_and_returns_the_checksum_header(api):
    sid = api.create()
    digest = sha256_b64(b"RIFF....WAVE")
    status, grant = api.grant(sid, 0, size=12, sha256=digest)
    assert status == 200
    assert grant["headers"]["x-amz-checksum-sha256"] == digest
    signed = parse_qs(urlparse(grant["url"]).query)["X-Amz-SignedHeaders"][0].split(";")
    assert sorted(signed) == sorted([h.lower() for h in grant["headers"]] + ["host"])


def test_a_browser_may_send_every_header_a_grant_binds(api):
    """A grant header missing from the bucket's CORS rules fails every browser upload at its preflight. Browsers
    set Content-Length themselves and never list it in Access-Control-Request-Headers."""
    sid = api.create()
    _, grant = api.grant(sid, 0, size=12, sha256=sha256_b64(b"RIFF....WAVE"))
    requested = {name.lower() for name in grant["headers"]} - {"content-length"}
    assert requested <= set(cors.BUCKET_ALLOWED_HEADERS)


@pytest.mark.parametrize(
    "query, body, field",
    [
        ({}, {"sizeBytes": 10}, "windowIndex"),
        ({"windowIndex": "-1"}, {"sizeBytes": 10}, "windowIndex"),
        ({"windowIndex": str(layout.MAX_WINDOW_INDEX + 1)}, {"sizeBytes": 10}, "windowIndex"),
        ({"windowIndex": "abc"}, {"sizeBytes": 10}, "windowIndex"),
        ({"windowIndex": "1.5"}, {"sizeBytes": 10}, "windowIndex"),
        ({"windowIndex": ""}, {"sizeBytes": 10}, "windowIndex"),
        ({"windowIndex": "1"}, {}, "sizeBytes"),
        ({"windowIndex": "1"}, {"sizeBytes": 0}, "sizeBytes"),
        ({"windowIndex": "1"}, {"sizeBytes": -5}, "sizeBytes"),
        ({"windowIndex": "1"}, {"sizeBytes": contract.DEFAULT_MAX_AUDIO_BYTES + 1}, "sizeBytes"),
        ({"windowIndex": "1"}, {"sizeBytes": "100"}, "sizeBytes"),
        ({"windowIndex": "1"}, {"sizeBytes": True}, "sizeBytes"),
        ({"windowIndex": "1"}, {"sizeBytes": 1.5}, "sizeBytes"),
        ({"windowIndex": "1"}, {"sizeBytes": 10, "sha256": "not base64!"}, "sha256"),
        ({"windowIndex": "1"}, {"sizeBytes": 10, "sha256": base64.b64encode(b"short").decode()}, "sha256"),
        ({"windowIndex": "1"}, {"sizeBytes": 10, "sha256": 12}, "sha256"),
        ({"windowIndex": "1"}, {"sizeBytes": 10, "sha": "x"}, "sha"),
    ],
)
def test_grant_rejects_invalid_input_with_400_naming_the_field(api, query, body, field):
    sid = api.create()
    status, response = api.call("POST", f"/sessions/{sid}/audio", query=query, body=body)
    assert status == 400, response
    assert field in response["error"]


@pytest.mark.parametrize("body", ["[1, 2]", "null", "{", ""])
def test_grant_rejects_a_body_that_is_not_a_json_object(api, body):
    sid = api.create()
    status, response = api.call("POST", f"/sessions/{sid}/audio", query={"windowIndex": "0"}, body=body, raw=True)
    assert status == 400 and response["error"]


@pytest.mark.parametrize("state", ["finalizing", "ready", "incomplete"])
def test_grant_for_a_session_no_longer_recording_is_409(api, state):
    sid = api.create()
    set_status(sid, state)
    status, response = api.grant(sid, 0)
    assert status == 409 and state in response["error"]


def test_grant_for_an_unknown_session_is_404(api):
    assert api.grant(str(uuid.uuid4()), 0) == (404, {"error": "session not found"})


# --- POST /sessions/{id}/complete -------------------------------------------------------------------------------


def test_complete_answers_202_with_the_status_body_and_then_grants_are_refused(api):
    sid = api.create()
    status, body = api.call("POST", f"/sessions/{sid}/complete", body={"expectedWindowCount": 2})
    assert status == 202
    assert (body["status"], body["expectedWindowCount"], body["missingWindows"]) == ("finalizing", 2, [[0, 1]])
    assert api.call("POST", f"/sessions/{sid}/complete", body={"expectedWindowCount": 2}) == (202, body)
    status, error = api.call("POST", f"/sessions/{sid}/complete", body={"expectedWindowCount": 3})
    assert status == 409 and "expectedWindowCount" in error["error"]
    status, error = api.grant(sid, 0)
    assert status == 409 and "finalizing" in error["error"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "expectedWindowCount"),
        ({"expectedWindowCount": -1}, "expectedWindowCount"),
        ({"expectedWindowCount": layout.MAX_WINDOW_INDEX + 2}, "expectedWindowCount"),
        ({"expectedWindowCount": "3"}, "expectedWindowCount"),
        ({"expectedWindowCount": 2.5}, "expectedWindowCount"),
        ({"expectedWindowCount": 2, "force": True}, "force"),
    ],
)
def test_complete_rejects_invalid_counts_with_400(api, body, field):
    sid = api.create()
    status, error = api.call("POST", f"/sessions/{sid}/complete", body=body)
    assert status == 400 and field in error["error"]


def test_complete_of_someone_elses_session_is_404(api):
    sid = api.create()
    status, _ = api.call("POST", f"/sessions/{sid}/complete", body={"expectedWindowCount": 1}, user="mallory")
    assert status == 404
    assert api.call("GET", f"/sessions/{sid}")[1]["status"] == "recording"
