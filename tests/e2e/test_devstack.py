"""The local stack over real HTTP: the authorizer, the presign gate's tamper matrix, Lambda's async retries and DLQ."""

from __future__ import annotations

import pytest
import requests

from devstack import samples
from devstack.tokens import DevKey
from handlers import layout
from tests.e2e.conftest import Api, dead_letters_for, s3_error

BODY = samples.wav_bytes()


def test_requests_without_a_valid_bearer_token_get_401(stack, tmp_path):
    session_id = Api(stack).create_session()
    other_key = DevKey.load_or_create(tmp_path)
    rejected = {
        "no header": {},
        "not a bearer": {"Authorization": f"Basic {stack.token(user='alice')}"},
        "garbage": {"Authorization": "Bearer not-a-jwt"},
        "another key": {"Authorization": f"Bearer {other_key.token('alice')}"},
        "expired": {"Authorization": f"Bearer {stack.token(user='alice', ttl_seconds=-60)}"},
    }
    for case, headers in rejected.items():
        response = requests.get(f"{stack.api_url}/sessions/{session_id}", headers=headers)
        assert response.status_code == 401, case
        assert response.json() == {"error": "missing or invalid bearer token"}, case


def test_the_token_reaches_the_handler_as_the_caller(stack, api):
    session_id = api.create_session()
    assert api.status(session_id)["sessionId"] == session_id
    # Another valid token is another caller: the session is not theirs.
    response = requests.get(f"{stack.api_url}/sessions/{session_id}", headers=Api(stack, "mallory").headers)
    assert response.status_code == 404


def test_a_request_outside_the_programs_routes_is_api_gateways_404_before_the_authorizer(stack, api):
    for method, path, headers in (("GET", "/no/such/route", api.headers), ("GET", "/sessions", {}),
                                  ("DELETE", "/sessions/x", api.headers), ("PUT", "/sessions", {})):
        response = requests.request(method, f"{stack.api_url}{path}", headers=headers, timeout=10)
        assert (response.status_code, response.json()) == (404, {"message": "Not Found"}), (method, path)


def test_the_front_answers_exactly_the_programs_routes(stack):
    assert set(stack.deployment.routes) == {
        "POST /sessions", "GET /sessions/{sessionId}", "GET /sessions/{sessionId}/windows",
        "POST /sessions/{sessionId}/audio", "POST /sessions/{sessionId}/frames", "POST /sessions/{sessionId}/grants",
        "POST /sessions/{sessionId}/complete",
    }
    assert set(stack.deployment.routes.values()) == {"JWT"}


def _swap_window(url: str, session_id: str) -> str:
    return url.replace(layout.audio_key(session_id, 0), layout.audio_key(session_id, 1))


def _flip_signature(url: str) -> str:
    last = url[-1]
    return url[:-1] + ("0" if last != "0" else "1")


# Each case: how to tamper with (url, headers, body), and the S3 error the gate must answer.
TAMPERS = {
    "wrong length": (lambda g, s: (g["url"], g["headers"] | {"Content-Length": None}, BODY + b"!"), 403, "SignatureDoesNotMatch"),
    "wrong type": (lambda g, s: (g["url"], g["headers"] | {"Content-Type": "audio/mpeg"}, BODY), 403, "SignatureDoesNotMatch"),
    "another key": (lambda g, s: (_swap_window(g["url"], s), g["headers"], BODY), 403, "SignatureDoesNotMatch"),
    "tampered signature": (lambda g, s: (_flip_signature(g["url"]), g["headers"], BODY), 403, "SignatureDoesNotMatch"),
    "signed header left out": (
        lambda g, s: (g["url"], {k: v for k, v in g["headers"].items() if k != "x-amz-checksum-sha256"}, BODY),
        403,
        "SignatureDoesNotMatch",
    ),
    "wrong checksum": (lambda g, s: (g["url"], g["headers"], BODY[:-1] + b"?"), 400, "BadDigest"),
    "expired url": (None, 403, "AccessDenied"),
}


@pytest.mark.parametrize("case", list(TAMPERS))
def test_the_gate_rejects_a_tampered_put_and_nothing_happens(case, stack, api, faults):
    tamper, status, code = TAMPERS[case]
    session_id = api.create_session()
    grant = api.grant(session_id, 0, BODY)
    if tamper is None:  # expired: the gate's clock moves past the URL's lifetime
        faults.skew_s3_clock(grant["expiresIn"] + 1)
        url, headers, body = grant["url"], grant["headers"], BODY
    else:
        url, headers, body = tamper(grant, session_id)

    response = requests.put(url, data=body, headers=headers, timeout=10)

    assert response.status_code == status, response.text
    assert s3_error(response)[0] == code
    if case == "expired url":
        assert s3_error(response)[1] == "Request has expired"
    stack.wait_idle()
    s3 = stack.client("s3")
    stored = s3.list_objects_v2(Bucket=stack.names.bucket, Prefix=layout.session_prefix(session_id))
    assert stored.get("KeyCount") == 0, "a rejected PUT stored an object"
    status_body = api.status(session_id)
    assert status_body["recordedWindows"] == [] and status_body["ingestedWindows"] == []
    assert stack.ingest_counts(session_id) == {}

    # The same grant, used as granted, is accepted: the rejection was the tampering's doing.
    faults.reset()
    assert requests.put(grant["url"], data=BODY, headers=grant["headers"], timeout=10).status_code == 200


def _upload(api: Api, session_id: str, window: int = 0) -> None:
    grant = api.grant(session_id, window, BODY)
    response = requests.put(grant["url"], data=BODY, headers=grant["headers"], timeout=10)
    assert response.status_code == 200, response.text


def test_a_correct_put_records_and_ingests_the_window_once_even_when_repeated(stack, api, faults):
    session_id = api.create_session()
    # A second PUT of the key is refused (write-once); a second event still comes from S3's at-least-once delivery.
    faults.duplicate_events(1)
    _upload(api, session_id)

    stack.wait_idle()
    assert faults.injected("duplicate_event") == 1
    status = api.status(session_id)
    assert status["recordedWindows"] == [[0, 0]]
    assert status["ingestedWindows"] == [[0, 0]]
    assert stack.ingest_counts(session_id) == {0: 1}


def test_an_ingest_invoke_that_fails_once_is_retried_and_ingests_once(stack, api, faults):
    session_id = api.create_session()
    faults.fail_ingest_invokes(1)
    _upload(api, session_id)

    stack.wait_idle()
    assert faults.pending("ingest_invoke") == 0, "the injected failure never happened"
    assert stack.ingest_counts(session_id) == {0: 1}
    assert api.status(session_id)["ingestedWindows"] == [[0, 0]]
    assert dead_letters_for(stack, session_id) == []


def test_an_ingest_run_that_fails_is_retried_with_the_same_request_id(stack, api, faults):
    session_id = api.create_session()
    faults.fail_ingest_runs(2)
    _upload(api, session_id)

    stack.wait_idle()
    assert faults.pending("ingest_run") == 0, "the injected failures never happened"
    # A retry under a new request id would have left a second record.
    assert stack.ingest_counts(session_id) == {0: 1}


def test_an_event_that_keeps_failing_lands_in_the_dlq(stack, api, faults):
    session_id = api.create_session()
    faults.fail_completion(3)  # the first attempt and both retries
    _upload(api, session_id)

    stack.wait_idle()
    [record] = dead_letters_for(stack, session_id)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"]["Records"][0]["s3"]["bucket"]["name"] == stack.names.bucket
    assert api.status(session_id)["recordedWindows"] == []
    assert stack.ingest_counts(session_id) == {}


def test_a_completion_that_fails_twice_succeeds_on_the_last_retry(stack, api, faults):
    session_id = api.create_session()
    faults.fail_completion(2)
    _upload(api, session_id)

    stack.wait_idle()
    assert stack.ingest_counts(session_id) == {0: 1}
    assert dead_letters_for(stack, session_id) == []


def test_an_upload_granted_without_a_checksum_is_accepted_and_ingested(stack, api):
    session_id = api.create_session()
    response = requests.post(
        f"{api.url}/sessions/{session_id}/audio", params={"windowIndex": 3}, json={"sizeBytes": len(BODY)},
        headers=api.headers,
    )
    grant = response.json()
    assert "x-amz-checksum-sha256" not in grant["headers"]
    assert requests.put(grant["url"], data=BODY, headers=grant["headers"], timeout=10).status_code == 200

    stack.wait_idle()
    assert stack.ingest_counts(session_id) == {3: 1}
