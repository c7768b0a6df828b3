"""Bad input, generated: every route of docs/openapi.yaml fuzzed over real HTTP against the local stack (no 5xx, every
error a JSON body with an "error" string); valid requests made hostile one part at a time (deeply nested, huge and
non-canonical bodies, fields, query integers and ids: each a 4xx naming what is wrong, nothing written); and hostile
S3 keys through the completion handler (skipped, counted, never an exception, never an item)."""

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
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from devstack import s3events
from devstack.stack import DevStack
from handlers import contract, layout
from tests.conftest import BUCKET, REGION, TABLE, load_handler
from tests.handlers.conftest import Api, LambdaContext

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
ROUTE_EXAMPLES = 30  # per route and generation mode (valid and invalid inputs)
HOSTILE_EXAMPLES = 15  # per route: a valid request with one part made hostile (each over HTTP, about 0.3 s)
KEY_EXAMPLES = 80

schema = schemathesis.openapi.from_path(OPENAPI)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=ROUTE_EXAMPLES, deterministic=True
)
# The same document, valid requests only: the base that the hostile test breaks in exactly one place.
valid_requests = schemathesis.openapi.from_path(OPENAPI)
valid_requests.config.generation.update(
    modes=[GenerationMode.POSITIVE], max_examples=HOSTILE_EXAMPLES, deterministic=True
)
SPEC = yaml.safe_load(OPENAPI.read_text())


# --- every route, over HTTP ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with DevStack(state_dir=tmp_path_factory.mktemp("devstack")) as running:
        yield running


@pytest.fixture(scope="module")
def http(stack):
    with requests.Session() as session:
        yield session


def callers(stack: DevStack) -> dict[str, dict[str, str]]:
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


# --- valid requests made hostile in one part, over HTTP ---------------------------------------------------------------

NOT_DECIMAL = st.one_of(
    st.sampled_from(["1.0", "1e3", " 1", "1 ", "\t1", "+1", "-0", "-1", "01", "00", "1_0", "0x1", "", "1,2", "true",
                     "null", "\u0661", "\uff11", "\u00b9", "NaN"]),
    st.integers(20, 5000).map(lambda n: "9" * n),  # past any range, and past int()'s 4,300 digits
    st.text(max_size=20).filter(lambda text: not (text.isascii() and text.isdigit() and text == str(int(text)))),
)
NOT_JSON_NUMBERS = st.sampled_from(["NaN", "Infinity", "-Infinity"])
HUGE_INTEGERS = st.integers(101, 5000).map(lambda n: "9" * n)
DEEP = "[" * 40 + "]" * 40  # a field's value nested past the limit
NOT_OBJECTS = st.one_of(
    st.integers(33, 16000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(33, 3000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
    st.integers(33, 16000).map(lambda depth: "[" * depth),  # unclosed as well
    st.sampled_from(["", " ", "null", "[]", "1", '"{}"', "{", "}", "{}}", "[{}]"]),
    st.builds(json.dumps, st.one_of(st.integers(), st.text(), st.lists(st.integers()), st.booleans())),
)


def operation_spec(case) -> dict:
    return SPEC["paths"][case.path][case.method.lower()]


def body_properties(case) -> dict[str, dict]:
    body = operation_spec(case).get("requestBody")
    if body is None:
        return {}
    reference = body["content"]["application/json"]["schema"]["$ref"]
    return SPEC["components"]["schemas"][reference.rsplit("/", 1)[1]]["properties"]


def query_parameters(case) -> dict[str, dict]:
    return {p["name"]: p["schema"] for p in operation_spec(case).get("parameters", []) if p["in"] == "query"}


@st.composite
def hostile_part(draw, case) -> tuple[str, str, object]:
    """(what, name, how): one part of a valid request to break, drawn from what the operation declares."""
    kinds = ["unknown query parameter"]
    integers = [name for name, spec in query_parameters(case).items() if spec.get("type") == "integer"]
    if integers:
        kinds += ["query integer", "repeated query parameter"]
    if body_properties(case):
        kinds += ["body structure", "body size", "body field", "repeated body field"]
    if "sessionId" in (case.path_parameters or {}):
        kinds += ["session id"]
    kind = draw(st.sampled_from(kinds))
    if kind in ("query integer", "repeated query parameter"):
        return kind, draw(st.sampled_from(integers)), draw(NOT_DECIMAL)
    if kind == "unknown query parameter":
        declared = set(query_parameters(case))
        name = draw(st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=12))
        assume(name not in declared)
        return kind, name, "1"
    if kind == "body structure":
        around = st.sampled_from([("\ufeff", ""), ("", " x"), ("", "{}"), ("", "\x00"), ("", ","), ("[", "]")])
        return kind, "body", draw(st.one_of(NOT_OBJECTS.map(lambda text: (None, text)), around))
    if kind == "body size":
        return kind, "body", draw(st.sampled_from(["padding", "string", "array"]))
    if kind in ("body field", "repeated body field"):
        name = draw(st.sampled_from(sorted(body_properties(case))))
        literals = st.one_of(NOT_JSON_NUMBERS, HUGE_INTEGERS, st.just(DEEP))
        if body_properties(case)[name].get("type") == "integer":
            literals = st.one_of(literals, st.sampled_from(["1.0", "1e3", "1e400", "-1e400", "true", '"1"', "[1]", "{}"]))
        return kind, name, draw(literals)
    return kind, "sessionId", draw(
        st.one_of(
            st.sampled_from(["upper", "braced", "no hyphens", "trailing space", "%00", "..%2F..", "%ff%fe"]),
            st.integers(40, 5000).map(lambda n: "a" * n),
            st.text(min_size=1, max_size=60).map(lambda text: quote(text, safe="")),
        )
    )


def _integral(value: object) -> object:
    """JSON Schema counts 628.0 as an integer and schemathesis generates it, in a list's items too; the API takes JSON
    integers only."""
    if isinstance(value, list):
        return [_integral(item) for item in value]
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    return int(value) if isinstance(value, float) and value.is_integer() else value


def hostile_request(case, session_id: str, kind: str, name: str, how) -> tuple[str, str, bytes | None]:
    """(path, raw query, body bytes) of the case with the one part broken."""
    path_parameters = dict(case.path_parameters or {})
    if "sessionId" in path_parameters:
        path_parameters["sessionId"] = session_id
    if kind == "session id":
        path_parameters["sessionId"] = {
            "upper": session_id.upper(),
            "braced": "%7B" + session_id + "%7D",
            "no hyphens": session_id.replace("-", ""),
            "trailing space": session_id + "%20",
        }.get(how, how)
    path = case.path.format(**path_parameters)
    pairs = [(key, str(_integral(value))) for key, value in (case.query or {}).items()]
    if kind == "query integer":  # an optional parameter the case left out is added, broken
        pairs = [(key, value) for key, value in pairs if key != name] + [(name, how)]
    elif kind == "repeated query parameter":
        value = dict(pairs).get(name, "0")
        pairs = [(key, v) for key, v in pairs if key != name] + [(name, value), (name, value)]
    elif kind == "unknown query parameter":
        pairs.append((name, how))
    query = "&".join(f"{quote(key, safe='')}={quote(value, safe='')}" for key, value in pairs)

    if not body_properties(case):
        return path, query, None
    fields = {key: _integral(value) for key, value in case.body.items()}
    text = json.dumps(fields)
    if kind == "body structure":
        before, after = how
        text = after if before is None else before + text + after  # the valid body wrapped, or another in its place
    elif kind == "body size":
        over = contract.MAX_REQUEST_BODY_BYTES + 1
        text = {
            "padding": text[:-1] + " " * over + "}",
            "string": json.dumps({**fields, "padding": "x" * over}),
            "array": json.dumps({**fields, "padding": [0] * over}),
        }[how]
    elif kind == "body field":
        text = json.dumps({**fields, name: "\x00hostile"}).replace('"\\u0000hostile"', how)
    elif kind == "repeated body field":
        others = [f"{json.dumps(key)}: {json.dumps(value)}" for key, value in fields.items() if key != name]
        text = "{" + ", ".join(others + [f"{json.dumps(name)}: {json.dumps(fields.get(name, 1))}"] * 2) + "}"
    return path, query, text.encode("utf-8")


class Table:
    """The module's stack's table (no other module's tests write to it): every item, to compare before and after a
    request, and emptied before each example, so that the comparison reads one example's items and not every
    session the module's earlier examples created (a scan of hundreds of items, twice per example)."""

    KEYS = (contract.TABLE_HASH_KEY, contract.TABLE_RANGE_KEY)

    def __init__(self, stack: DevStack):
        self._dynamodb, self._name = stack.client("dynamodb"), stack.names.table

    def items(self) -> list[str]:
        return sorted(map(str, self._dynamodb.scan(TableName=self._name, ConsistentRead=True)["Items"]))

    def clear(self) -> None:
        for page in self._dynamodb.get_paginator("scan").paginate(TableName=self._name, ConsistentRead=True):
            for item in page["Items"]:
                self._dynamodb.delete_item(TableName=self._name, Key={key: item[key] for key in self.KEYS})


@pytest.fixture(scope="module")
def table(stack) -> Table:
    return Table(stack)


@valid_requests.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
@valid_requests.given(data=st.data())
def test_a_valid_request_made_hostile_in_one_part_is_a_4xx_naming_it_and_writes_nothing(case, data, stack, http, table):
    owner = callers(stack)["owner"]
    table.clear()
    session_id = ""
    if "sessionId" in (case.path_parameters or {}):
        created = http.post(f"{stack.api_url}/sessions", json={"captureMode": "audio_only"}, headers=owner, timeout=30)
        session_id = created.json()["sessionId"]
    kind, name, how = data.draw(hostile_part(case), label="hostile part")
    path, query, body = hostile_request(case, session_id, kind, name, how)
    headers = {**owner, "Content-Type": "application/json"} if body is not None else owner
    before = table.items()

    response = http.request(
        case.method, f"{stack.api_url}{path}" + (f"?{query}" if query else ""), data=body, headers=headers, timeout=30
    )

    request = f"{case.method} {path}?{query[:200]} ({kind}: {name}) {(body or b'')[:200]!r}: {response.status_code} "
    request += response.text[:300]
    assert response.status_code < 500, request
    assert response.headers["content-type"].startswith("application/json"), request
    error = response.json().get("error", "")
    if kind == "body size" or len(body or b"") > contract.MAX_REQUEST_BODY_BYTES:
        # A hostile structure can be over the limit too (an array nested 16,000 deep): then the size is refused first.
        assert response.status_code == 413 and error == f"body: larger than {contract.MAX_REQUEST_BODY_BYTES} bytes"
    elif kind == "session id":
        # The grant's own checks may refuse the valid case's values first (a size over MAX_AUDIO_BYTES, a sha256
        # that is no digest): a 400 before the session is looked up.
        assert response.status_code in (400, 404) and error, request
    elif kind == "body structure" or (kind == "body field" and how == DEEP):
        assert response.status_code == 400 and "body" in error, request
    else:
        assert response.status_code == 400 and f"{name}: " in error, request
    assert table.items() == before, request


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
