"""Bad input, generated: every route of docs/openapi.yaml fuzzed over real HTTP against the local stack (no 5xx, every
error a JSON body with an "error" string), and hostile S3 keys through the completion handler (skipped, counted,
never an exception, never an item)."""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import quote, unquote_plus

import boto3
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from devstack import s3events
from devstack.stack import LocalStack
from handlers import layout
from tests.conftest import BUCKET, REGION, TABLE, load_handler
from tests.handlers.conftest import Api, LambdaContext

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
ROUTE_EXAMPLES = 30  # per route and generation mode (valid and invalid inputs)
KEY_EXAMPLES = 80

schema = schemathesis.openapi.from_path(OPENAPI)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=ROUTE_EXAMPLES, deterministic=True
)


# --- every route, over HTTP ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LocalStack(state_dir=tmp_path_factory.mktemp("devstack")) as running:
        yield running


@pytest.fixture(scope="module")
def http(stack):
    with requests.Session() as session:
        yield session


def callers(stack: LocalStack) -> dict[str, dict[str, str]]:
    """Who calls: the session's owner, another user, and callers the authorizer must turn away."""
    return {
        "owner": {"Authorization": f"Bearer {stack.token(user='alice')}"},
        "another user": {"Authorization": f"Bearer {stack.token(user='mallory')}"},
        "no token": {},
        "expired token": {"Authorization": f"Bearer {stack.token(user='alice', ttl_seconds=-60)}"},
        "garbage token": {"Authorization": "Bearer not.a.jwt"},
    }


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
@schema.given(caller=st.sampled_from(["owner", "owner", "owner", "another user", "no token", "expired token",
                                      "garbage token"]),
              target=st.sampled_from(["generated", "own session", "own session"]))
def test_no_route_answers_5xx_and_every_error_is_a_json_error_body(case, caller, target, stack, http):
    """Valid and invalid inputs alike, on generated ids and on a real session of the owner's (so that the handler's
    validation, not only its lookup, sees the generated bodies and parameters)."""
    if target == "own session" and "sessionId" in (case.path_parameters or {}):
        created = http.post(f"{stack.api_url}/sessions", json={"captureMode": "audio_only"},
                            headers=callers(stack)["owner"], timeout=30)
        case.path_parameters["sessionId"] = created.json()["sessionId"]
    response = case.call(base_url=stack.api_url, session=http, headers=callers(stack)[caller], timeout=30)

    request = f"{case.method} {case.formatted_path} as {caller}: {response.status_code} {response.text[:300]}"
    assert response.status_code < 500, request
    if response.status_code >= 400:
        assert response.headers.get("content-type", [""])[0].startswith("application/json"), request
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], request


# --- hostile keys, through the completion handler -----------------------------------------------------------------

GHOST = str(uuid.UUID(int=0x5EED, version=4))  # a well-formed session id no session has


def _near_misses(session_id: str) -> st.SearchStrategy[str]:
    """Keys one edit away from a real one: case, padding, traversal, separators, encodings, extra parts."""
    real = layout.audio_key(session_id, 7)
    return st.sampled_from(
        [
            real.upper(),
            real.replace("window_007", "window_0007"),
            real.replace("window_007", "window_7"),
            real.replace("window_007", "window_10000"),
            real.replace("window_007", "window_-01"),
            real.replace("sessions/", "sessions/../sessions/"),
            real.replace("sessions/", "/sessions/"),
            real.replace("/audio.wav", "/../audio.wav"),
            real.replace("/audio.wav", "/audio.wav/"),
            real.replace("/audio.wav", "/audio.WAV"),
            real + "\x00",
            real + "\n",
            "\x00" + real,
            real.replace(session_id, session_id.replace("-", "")),
            real.replace(session_id, "{" + session_id + "}"),
            real.replace("/", "\\"),
            real.replace("/", "%2F"),  # decodes once to the real key: not hostile, filtered out below
            quote(quote(real, safe=""), safe=""),
            real.replace("a", "\u0430"),  # Cyrillic a
            real.replace("-", "\u2010"),  # Unicode hyphen
            f"{real}/{real}",
            "sessions/" + "a" * 2000 + "/window_001/audio.wav",
        ]
    )


def hostile_keys(session_id: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=300),
        st.text(min_size=1025, max_size=2000),
        st.builds(lambda middle: f"{layout.SESSIONS_PREFIX}{middle}{layout.AUDIO_SUFFIX}", st.text(max_size=120)),
        st.builds(lambda w: f"{layout.SESSIONS_PREFIX}{GHOST}/{layout.window_dir(w)}{layout.AUDIO_SUFFIX}",
                  st.integers(0, layout.MAX_WINDOW_INDEX)),
        _near_misses(session_id),
    )


def s3_record(key: str, encode: bool) -> dict:
    return s3events.notification_record(BUCKET, key, size=1, etag="e", encode=encode)


def bridge_event(key: str) -> dict:
    return s3events.object_created(BUCKET, key, size=1)


@pytest.fixture(scope="module")
def completion(aws_module):
    """A real session to aim near-misses at, the completion handler, and the table."""
    api = Api(load_handler("handlers.api.app"))
    module = load_handler("handlers.upload_complete.app")
    return api.create("audio_only"), module, boto3.resource("dynamodb", region_name=REGION).Table(TABLE)


def emitted_metrics(output: str) -> Counter:
    """Every metric's total over the EMF lines Powertools printed (one per invocation)."""
    totals: Counter = Counter()
    for line in (json.loads(line) for line in output.splitlines() if '"_aws"' in line):
        for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            value = line[metric["Name"]]
            totals[metric["Name"]] += int(sum(value) if isinstance(value, list) else value)
    return +totals


@settings(max_examples=KEY_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_keys_are_skipped_and_counted_never_raise_and_never_create_or_touch_an_item(completion, data):
    session_id, module, table = completion
    keys = data.draw(st.lists(hostile_keys(session_id), min_size=1, max_size=4), label="keys")
    transport = data.draw(st.sampled_from(["s3, URL-encoded", "s3, raw", "eventbridge"]), label="transport")
    # What the handler sees: S3 notifications carry keys URL-encoded, and the handler decodes them once.
    seen = [unquote_plus(key) for key in keys] if transport == "s3, raw" else keys
    parsed = [layout.parse_key(key) for key in seen]
    # A key that decodes to a real window's key is an upload, not an attack (tested elsewhere).
    assume(all(p is None or p.session_id == GHOST for p in parsed))
    before = table.scan(ConsistentRead=True)["Items"]

    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        if transport.startswith("s3"):
            records = [s3_record(key, encode=transport == "s3, URL-encoded") for key in keys]
            results = [module.lambda_handler({"Records": records}, LambdaContext())]
        else:
            results = [module.lambda_handler(bridge_event(key), LambdaContext()) for key in keys]

    assert sum(result["handled"] for result in results) == len(keys)
    unknown = sum(1 for p in parsed if p is not None)
    assert emitted_metrics(output.getvalue()) == Counter(
        {"UnknownSessionsSkipped": unknown, "ForeignKeysSkipped": len(keys) - unknown}
    )
    assert table.scan(ConsistentRead=True)["Items"] == before
