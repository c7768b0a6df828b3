"""What a browser meets over real HTTP: the gate answers CORS as S3 does from the bucket's CORS configuration, the
front as the HTTP API does from its CORS settings; and the test control endpoint of a served stack."""

from __future__ import annotations

import pytest
import requests

from devstack import samples
from devstack.stack import DevStack
from handlers import cors
from tests.e2e.conftest import Api, s3_error

ORIGIN = "http://localhost:5173"
ELSEWHERE = "https://evil.example"
BODY = samples.wav_bytes()
GRANT_HEADERS = "content-type,if-none-match,x-amz-checksum-sha256"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    static = tmp_path_factory.mktemp("static")
    (static / "hello.html").write_text("<p>hello</p>")
    with DevStack(
        cors_allowed_origins=[ORIGIN],
        static_dir=static,
        control=True,
        state_dir=tmp_path_factory.mktemp("devstack"),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def api(stack) -> Api:
    return Api(stack)


@pytest.fixture
def grant(api) -> dict:
    return api.grant(api.create_session(), 0, BODY)


def preflight(url: str, origin: str = ORIGIN, method: str = "PUT", headers: str | None = GRANT_HEADERS):
    request_headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        request_headers["Access-Control-Request-Headers"] = headers
    return requests.options(url, headers=request_headers, timeout=10)


def test_the_bucket_holds_the_programs_cors_rules_for_the_stacks_origins(stack):
    rules = requests.get(f"{stack.control_url}/bucket-cors", timeout=10).json()["CORSRules"]
    assert [{k: v for k, v in rule.items() if k != "ID"} for rule in rules] == cors.bucket_cors_rules(
        [ORIGIN, stack.page_url]
    )


def test_a_preflight_for_the_granted_headers_is_allowed(grant):
    response = preflight(grant["url"])
    assert response.status_code == 200, response.text
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Allow-Methods"] == "PUT"
    assert response.headers["Access-Control-Allow-Headers"] == "content-type, if-none-match, x-amz-checksum-sha256"
    assert response.headers["Access-Control-Expose-Headers"] == "ETag"
    assert response.headers["Access-Control-Max-Age"] == str(cors.BUCKET_MAX_AGE_SECONDS)


@pytest.mark.parametrize(
    "origin, method, headers",
    [
        (ORIGIN, "PUT", GRANT_HEADERS + ",x-amz-meta-note"),  # a header no rule allows
        (ELSEWHERE, "PUT", GRANT_HEADERS),  # an origin no rule allows
        (ORIGIN, "DELETE", None),  # a method no rule allows
    ],
    ids=["header", "origin", "method"],
)
def test_a_preflight_no_rule_matches_is_refused_with_s3s_error(grant, origin, method, headers):
    response = preflight(grant["url"], origin, method, headers)
    assert response.status_code == 403
    code, message = s3_error(response)
    assert code == "AccessForbidden"
    assert message.startswith("CORSResponse: This CORS request is not allowed.")
    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_preflight_needs_an_origin_and_a_bucket_with_cors(stack, grant):
    response = requests.options(grant["url"], headers={"Access-Control-Request-Method": "PUT"}, timeout=10)
    assert (response.status_code, s3_error(response)[0]) == (400, "BadRequest")
    rules = requests.get(f"{stack.control_url}/bucket-cors", timeout=10).json()["CORSRules"]
    requests.put(f"{stack.control_url}/bucket-cors", json={"CORSRules": []}, timeout=10).raise_for_status()
    try:
        response = preflight(grant["url"])
        assert response.status_code == 403
        assert s3_error(response) == ("AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.")
    finally:
        requests.put(f"{stack.control_url}/bucket-cors", json={"CORSRules": rules}, timeout=10).raise_for_status()


def test_a_put_from_an_allowed_origin_exposes_the_etag(grant):
    response = requests.put(grant["url"], data=BODY, headers=grant["headers"] | {"Origin": ORIGIN}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Expose-Headers"] == "ETag"
    assert response.headers["ETag"].strip('"')


def test_a_put_from_another_origin_is_stored_but_unreadable_by_its_page(grant):
    """S3 does not refuse the request for CORS: the browser does, because the response carries no CORS headers."""
    response = requests.put(grant["url"], data=BODY, headers=grant["headers"] | {"Origin": ELSEWHERE}, timeout=10)
    assert response.status_code == 200
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]


def test_a_refused_put_from_an_allowed_origin_is_readable_by_its_page(stack, grant):
    """The client reads S3's error to tell an expired URL (retry) from a bad signature (fail at once)."""
    requests.post(f"{stack.control_url}/faults", json={"expireS3Urls": 1}, timeout=10).raise_for_status()
    response = requests.put(grant["url"], data=BODY, headers=grant["headers"] | {"Origin": ORIGIN}, timeout=10)
    assert response.status_code == 403
    assert s3_error(response) == ("AccessDenied", "Request has expired")
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_the_control_endpoint_injects_s3_faults_once_each(stack, grant):
    requests.post(f"{stack.control_url}/faults/reset", timeout=10).raise_for_status()
    requests.post(f"{stack.control_url}/faults", json={"failS3Puts": 1, "expireS3Urls": 1}, timeout=10)
    answers = []
    for _ in range(3):
        response = requests.put(grant["url"], data=BODY, headers=grant["headers"], timeout=10)
        answers.append((response.status_code, s3_error(response)[0] if response.status_code != 200 else None))
    assert answers == [(503, "ServiceUnavailable"), (403, "AccessDenied"), (200, None)]
    injected = requests.get(f"{stack.control_url}/faults", timeout=10).json()["injected"]
    assert injected == {"s3_put": 1, "s3_url_expired": 1, "drop_event": 0}
    bad = requests.post(f"{stack.control_url}/faults", json={"failS3Puts": -1}, timeout=10)
    assert bad.status_code == 400


def test_the_api_answers_a_preflight_itself_before_the_authorizer(stack):
    response = preflight(f"{stack.api_url}/sessions", method="POST", headers="authorization,content-type")
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Allow-Methods"] == ",".join(cors.API_ALLOWED_METHODS)
    assert response.headers["Access-Control-Allow-Headers"] == ",".join(cors.API_ALLOWED_HEADERS)
    assert response.headers["Access-Control-Max-Age"] == str(cors.API_MAX_AGE_SECONDS)


def test_the_api_gives_no_cors_headers_to_another_origin(stack, api):
    response = preflight(f"{stack.api_url}/sessions", origin=ELSEWHERE, method="POST", headers="authorization")
    assert response.status_code == 204
    assert "Access-Control-Allow-Origin" not in response.headers
    response = requests.get(f"{stack.api_url}/sessions/x", headers=api.headers | {"Origin": ELSEWHERE}, timeout=10)
    assert "Access-Control-Allow-Origin" not in response.headers


def test_the_apis_answers_and_the_authorizers_refusals_are_readable_by_an_allowed_page(stack, api):
    session_id = api.create_session()
    answered = requests.get(f"{stack.api_url}/sessions/{session_id}", headers=api.headers | {"Origin": ORIGIN})
    refused = requests.get(f"{stack.api_url}/sessions/{session_id}", headers={"Origin": ORIGIN})
    plain = requests.get(f"{stack.api_url}/sessions/{session_id}", headers=api.headers)
    assert (answered.status_code, refused.status_code) == (200, 401)
    assert answered.headers["Access-Control-Allow-Origin"] == refused.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Access-Control-Allow-Origin" not in plain.headers


def test_the_static_pages_are_served_from_an_allowed_origin(stack):
    assert stack.page_url in stack.cors_allowed_origins
    assert requests.get(f"{stack.page_url}/hello.html", timeout=10).text == "<p>hello</p>"
    assert requests.get(f"{stack.page_url}/missing.html", timeout=10).status_code == 404
    assert stack.endpoints["pageUrl"] == stack.page_url and stack.endpoints["controlUrl"] == stack.control_url
