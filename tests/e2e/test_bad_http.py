"""Malformed HTTP against the local stack's front (API Gateway + JWT authorizer) and presign gate (S3): each gets the
4xx the real service answers (JSON from the front, S3's XML from the gate), never a 500 or a traceback in the log,
and nothing reaches the table or the bucket."""

from __future__ import annotations

import logging
import re
import socket
import time
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from devstack import samples
from devstack.apigw import MAX_PAYLOAD_BYTES
from devstack.tokens import DevKey
from tests.e2e.conftest import s3_error

BODY = samples.wav_bytes()


@pytest.fixture(autouse=True)
def no_traceback(caplog):
    """A request the servers could not handle is logged by werkzeug ("Error on request") or by the front."""
    caplog.set_level(logging.ERROR)
    yield
    failures = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert failures == [], [record.getMessage() for record in failures]


@pytest.fixture(scope="module")
def writes(stack):
    """What the stack holds: every table item and every object key, to compare before and after."""
    dynamodb = stack.client("dynamodb")
    s3 = stack.client("s3")

    def snapshot():
        stack.wait_idle()
        items = dynamodb.scan(TableName=stack.names.table, ConsistentRead=True)["Items"]
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=stack.names.bucket).get("Contents", [])]
        return sorted(map(str, items)), sorted(keys)

    return snapshot


def raw_request(url: str, head: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One request written by hand (what `requests` refuses to send), on its own connection."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(head.replace("\n", "\r\n").encode("latin-1") + b"\r\n" + body)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    status_line, _, rest = received.partition(b"\r\n")
    header_block, _, content = rest.partition(b"\r\n\r\n")
    headers = dict(line.decode("latin-1").split(": ", 1) for line in header_block.split(b"\r\n") if b": " in line)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, content


# --- the front ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_length, status",
    [("abc", 400), ("-1", 400), ("1e3", 400), ("0x10", 400), ("2,2", 400), (str(MAX_PAYLOAD_BYTES + 1), 413),
     ("9" * 40, 413)],
)
def test_a_content_length_that_is_not_digits_is_400_and_one_over_the_payload_limit_413(
    stack, writes, content_length, status
):
    before = writes()
    token = stack.token(user="alice")
    code, headers, content = raw_request(
        stack.api_url,
        f"POST /sessions HTTP/1.1\nHost: api\nAuthorization: Bearer {token}\nContent-Type: application/json\n"
        f"Content-Length: {content_length}\nConnection: close\n",
        b'{"captureMode": "audio_only"}',
    )
    assert code == status, content
    assert headers["content-type"] == "application/json"
    assert (b"payload limit" if status == 413 else b"Content-Length") in content  # not the handler's "body: ..."
    assert writes() == before


def test_a_body_over_api_gateways_payload_limit_is_413_declared_or_chunked(stack, writes):
    before = writes()
    auth = {"Authorization": f"Bearer {stack.token(user='alice')}", "Content-Type": "application/json"}
    body = b'{"captureMode": "audio_only"' + b" " * MAX_PAYLOAD_BYTES + b"}"
    declared = requests.post(f"{stack.api_url}/sessions", data=body, headers=auth, timeout=30)
    chunked = requests.post(f"{stack.api_url}/sessions", data=iter([body[:1000], body[1000:]]), headers=auth, timeout=30)
    for response in (declared, chunked):
        assert response.status_code == 413, response.text
        assert "payload limit" in response.json()["error"]
    assert writes() == before


def test_framing_the_front_cannot_read_is_a_400(stack, writes):
    before = writes()
    token = stack.token(user="alice")
    head = f"POST /sessions HTTP/1.1\nHost: api\nAuthorization: Bearer {token}\nContent-Type: application/json\n"
    both = raw_request(stack.api_url, head + "Content-Length: 5\nTransfer-Encoding: chunked\nConnection: close\n",
                       b"2\r\n{}\r\n0\r\n\r\n")
    bad_chunk = raw_request(stack.api_url, head + "Transfer-Encoding: chunked\nConnection: close\n", b"zz\r\n{}\r\n0\r\n\r\n")
    assert (both[0], bad_chunk[0]) == (400, 400), (both, bad_chunk)
    assert writes() == before


def test_the_issues_two_inputs_over_http_are_400s(stack, api):
    session_id = api.create_session()
    url = f"{stack.api_url}/sessions/{session_id}/audio"
    nested = requests.post(f"{url}?windowIndex=1", data="[" * 5000, headers=api.headers, timeout=10)
    assert (nested.status_code, nested.json()) == (400, {"error": "body: nested deeper than 32 levels"})
    for window in ("1.0", "%201", "1_0", "01", "1&windowIndex=2", "999999999999999999999999"):
        response = requests.post(f"{url}?windowIndex={window}", json={"sizeBytes": 4}, headers=api.headers, timeout=10)
        assert response.status_code == 400 and response.json()["error"].startswith("windowIndex: "), window


def _token(stack, claims: dict, key, algorithm: str, **headers) -> str:
    """A token of the issuer and audience the stack's (the program's) authorizer accepts, unless `claims` say else."""
    now = int(time.time())
    payload = {"iss": stack.deployment.jwt_issuer, "aud": stack.deployment.jwt_audiences[0], "sub": "alice",
               "iat": now, "exp": now + 600} | claims
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers or None)


@pytest.fixture(scope="module")
def tokens(stack, tmp_path_factory) -> dict[str, str]:
    """A token the authorizer accepts (`token`), and tokens it must refuse: made once, each key loaded or made once."""
    key = DevKey.load(stack.state_dir)
    return {
        "token": stack.token(user="alice"),
        "none": _token(stack, {}, None, "none"),
        "hs256": _token(stack, {}, "a-guessed-secret-that-is-long-enough-for-hs256", "HS256"),
        "other_key": _token(stack, {}, DevKey.load_or_create(tmp_path_factory.mktemp("other-key"))._private, "RS256"),
        "no_sub": _token(stack, {"sub": None}, key._private, "RS256"),
        "wrong_issuer": _token(stack, {"iss": "https://elsewhere.example/"}, key._private, "RS256"),
        "wrong_audience": _token(stack, {"aud": "another-app-client"}, key._private, "RS256"),
    }


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic YWxpY2U6c2VjcmV0",
        "Bearer",
        "Bearer ",
        "bearer.x.y",
        "Token {token}",
        "Bearer {token} extra",
        "Bearer not.a.jwt",
        "Bearer " + "A" * 8000,
        "Bearer \u00e9\u00e9.\u00e9.\u00e9",
        "Bearer e30.e30.",
        "Bearer {none}",  # alg none
        "Bearer {hs256}",  # HMAC with a guessed secret: another algorithm than the authorizer's
        "Bearer {other_key}",
        "Bearer {no_sub}",
        "Bearer {wrong_issuer}",
        "Bearer {wrong_audience}",
    ],
)
def test_an_authorization_that_is_not_a_valid_bearer_jwt_is_401(stack, tokens, authorization):
    header = authorization.format(**tokens).encode("utf-8").decode("latin-1")  # as the bytes arrive
    response = requests.get(f"{stack.api_url}/sessions/any", headers={"Authorization": header}, timeout=10)
    assert (response.status_code, response.json()) == (401, {"error": "missing or invalid bearer token"})


# --- the presign gate --------------------------------------------------------------------------------------------


def _with(url: str, name: str, value: str | None) -> str:
    """The URL with query parameter `name` set to `value` as sent (already encoded), or removed (None)."""
    base, _, query = url.partition("?")
    pairs = [pair for pair in query.split("&") if pair.partition("=")[0] != name]
    return f"{base}?{'&'.join(pairs + ([f'{name}={value}'] if value is not None else []))}"


GATE_CASES = {
    # name: (how the URL is changed, the status and S3 error code)
    "X-Amz-Expires not digits": (lambda u: _with(u, "X-Amz-Expires", "abc"), 400, "AuthorizationQueryParametersError"),
    "X-Amz-Expires 300.0": (lambda u: _with(u, "X-Amz-Expires", "300.0"), 400, "AuthorizationQueryParametersError"),
    "X-Amz-Expires ' 300'": (lambda u: _with(u, "X-Amz-Expires", "%20300"), 400, "AuthorizationQueryParametersError"),
    "X-Amz-Expires +300": (lambda u: _with(u, "X-Amz-Expires", "%2B300"), 400, "AuthorizationQueryParametersError"),
    "X-Amz-Expires 3_00": (lambda u: _with(u, "X-Amz-Expires", "3_00"), 400, "AuthorizationQueryParametersError"),
    "X-Amz-Expires -1": (lambda u: _with(u, "X-Amz-Expires", "-1"), 400, "AuthorizationQueryParametersError"),
    "X-Amz-Expires huge": (lambda u: _with(u, "X-Amz-Expires", "9" * 5000), 400, "AuthorizationQueryParametersError"),
    "X-Amz-Expires empty": (lambda u: _with(u, "X-Amz-Expires", ""), 400, "AuthorizationQueryParametersError"),
    "X-Amz-Date unparsable": (lambda u: _with(u, "X-Amz-Date", "yesterday"), 400, "AuthorizationQueryParametersError"),
    "X-Amz-Date no month 13": (lambda u: _with(u, "X-Amz-Date", "20261301T000000Z"), 400,
                               "AuthorizationQueryParametersError"),
    "X-Amz-Date year 99999": (lambda u: _with(u, "X-Amz-Date", "99999101T000000Z"), 400,
                              "AuthorizationQueryParametersError"),
    "X-Amz-Signature missing": (lambda u: _with(u, "X-Amz-Signature", None), 400, "AuthorizationQueryParametersError"),
    "X-Amz-Credential missing": (lambda u: _with(u, "X-Amz-Credential", None), 400,
                                 "AuthorizationQueryParametersError"),
    "X-Amz-Algorithm repeated": (lambda u: u + "&X-Amz-Algorithm=AWS4-HMAC-SHA256", 400,
                                 "AuthorizationQueryParametersError"),
    "X-Amz-Signature not hex": (lambda u: _with(u, "X-Amz-Signature", "zz" * 32), 403, "SignatureDoesNotMatch"),
    "X-Amz-Signature not ASCII": (lambda u: _with(u, "X-Amz-Signature", "%C3%A9" * 32), 403, "SignatureDoesNotMatch"),
    "X-Amz-Signature huge": (lambda u: _with(u, "X-Amz-Signature", "a" * 10000), 403, "SignatureDoesNotMatch"),
    "X-Amz-Credential garbage": (lambda u: _with(u, "X-Amz-Credential", "%ff%00"), 403, "SignatureDoesNotMatch"),
    "X-Amz-SignedHeaders empty": (lambda u: _with(u, "X-Amz-SignedHeaders", ""), 403, "SignatureDoesNotMatch"),
    "a percent escape that is none": (lambda u: u + "&x=%zz", 403, "SignatureDoesNotMatch"),
}


@pytest.mark.parametrize("case", list(GATE_CASES))
def test_a_malformed_presigned_query_is_s3s_xml_4xx_and_nothing_is_stored(case, stack, api, writes):
    change, status, code = GATE_CASES[case]
    session_id = api.create_session()
    grant = api.grant(session_id, 0, BODY)
    before = writes()
    response = requests.put(change(grant["url"]), data=BODY, headers=grant["headers"], timeout=10)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/xml" and s3_error(response)[0] == code
    assert writes() == before
    # The grant as granted is still good: only the change was refused.
    assert requests.put(grant["url"], data=BODY, headers=grant["headers"], timeout=10).status_code == 200


def test_a_put_the_gate_cannot_read_or_replay_is_s3s_xml_4xx(stack, api, writes):
    session_id = api.create_session()
    grant = api.grant(session_id, 1, BODY)
    before = writes()
    no_host = requests.put(grant["url"], data=BODY, headers={**grant["headers"], "Host": "["}, timeout=10)
    parts = urlsplit(grant["url"])
    bad_chunk = raw_request(
        grant["url"],
        f"PUT {parts.path}?{parts.query} HTTP/1.1\nHost: {parts.netloc}\nTransfer-Encoding: chunked\nConnection: close\n",
        b"zz\r\n" + BODY + b"\r\n0\r\n\r\n",
    )
    assert (no_host.status_code, s3_error(no_host)[0]) == (403, "SignatureDoesNotMatch")
    assert bad_chunk[0] == 400 and re.search(rb"<Code>IncompleteBody</Code>", bad_chunk[2])
    assert writes() == before


def test_a_malformed_session_id_or_window_never_reaches_a_500_over_http(stack, api):
    """Path parameters as a browser or curl may send them: percent-encoded, very long, in capitals."""
    session_id = api.create_session()
    for candidate in (session_id.upper(), "%7B" + session_id + "%7D", "a" * 5000, "%00", "..%2F..", "%ff%fe"):
        response = requests.get(f"{stack.api_url}/sessions/{candidate}", headers=api.headers, timeout=10)
        assert (response.status_code, response.json()) == (404, {"error": "session not found"}), candidate[:40]


# --- the Lambda Invoke endpoint the handlers call ---------------------------------------------------------------


@pytest.mark.parametrize("payload", [b"[" * 5000, b"{", b"\xff", b'{"a": NaN'])
def test_an_invoke_payload_that_is_not_json_is_lambdas_400(stack, payload):
    url = f"{stack.lambda_endpoint}/2015-03-31/functions/{stack.names.ingest_function}/invocations"
    signed = AWSRequest("POST", url, data=payload, headers={"X-Amz-Invocation-Type": "DryRun"})
    SigV4Auth(stack.credentials, "lambda", stack.region).add_auth(signed)  # as the operator, who may invoke it
    response = requests.post(url, data=payload, headers=dict(signed.headers.items()), timeout=10)
    assert (response.status_code, response.headers["x-amzn-ErrorType"]) == (400, "InvalidRequestContentException")


def test_an_invoke_by_an_unknown_or_anonymous_caller_is_lambdas_403(stack):
    url = f"{stack.lambda_endpoint}/2015-03-31/functions/{stack.names.ingest_function}/invocations"
    stranger = AWSRequest("POST", url, data=b"{}")
    SigV4Auth(Credentials("AKIASTRANGER0000", "secret"), "lambda", stack.region).add_auth(stranger)
    for headers in ({}, dict(stranger.headers.items())):
        response = requests.post(url, data=b"{}", headers=headers, timeout=10)
        assert (response.status_code, response.headers["x-amzn-ErrorType"]) == (403, "AccessDeniedException")
