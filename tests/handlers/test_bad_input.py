"""Malformed input to the API Lambda, as API Gateway hands it over: every case a 4xx naming what is wrong (413 for
a body over the documented limit), never a 500, never a coerced value, and nothing written."""

import json

import boto3
import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from devstack.apigw import http_api_event
from handlers import contract, layout
from handlers.api.models import query_int
from tests.conftest import REGION, TABLE
from tests.handlers.conftest import LambdaContext

RANGE = f"must be an integer from 0 to {layout.MAX_WINDOW_INDEX} in decimal digits"


def table_items():
    return boto3.resource("dynamodb", region_name=REGION).Table(TABLE).scan(ConsistentRead=True)["Items"]


@pytest.fixture
def session(api):
    return api.create("audio_video")  # every route takes it: both halves' grants


def grant(api, session, query, body='{"sizeBytes": 10}'):
    return api.call("POST", f"/sessions/{session}/audio", query=query, body=body, raw=True)


# --- query integers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "1.0",
        "1e0",
        "1e3",
        " 1",
        "1 ",
        "\t1",
        "+1",
        "-0",
        "-1",
        "01",
        "00",
        "1_0",
        "0x1",
        "1,2",
        "",
        "true",
        "\u0661",  # ARABIC-INDIC DIGIT ONE: int() takes it
        "\uff11",  # FULLWIDTH DIGIT ONE: so does it
        str(layout.MAX_WINDOW_INDEX + 1),
        "999999999999999999999999",
        "9" * 5000,  # past int()'s 4,300-digit limit
    ],
)
def test_a_query_integer_in_any_other_spelling_than_decimal_digits_in_range_is_a_400_naming_it(api, session, value):
    assert grant(api, session, f"windowIndex={value}") == (400, {"error": f"windowIndex: {RANGE}"})


@pytest.mark.parametrize("value", ["0", "7", "10", str(layout.MAX_WINDOW_INDEX)])
def test_a_query_integer_in_decimal_digits_in_range_is_taken_as_written(api, session, value):
    status, body = grant(api, session, f"windowIndex={value}")
    assert (status, body["windowIndex"]) == (200, int(value))
    assert body["s3Key"] == layout.audio_key(session, int(value))


def test_query_int_is_one_type_for_every_range_alias_and_default():
    """The type the routes' query integers share: the range is its own, the alias and default the route's."""
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.get("/page")
    def page(
        limit: query_int(1, 1000) = 100,
        start: query_int(0, 99_999, alias="from") = 0,
    ) -> dict:
        return {"limit": limit, "from": start}

    def get(query):
        response = app.resolve(http_api_event("GET", "/page", query=query), LambdaContext())
        return response["statusCode"], json.loads(response["body"])

    assert get("") == (200, {"limit": 100, "from": 0})
    assert get("limit=1000&from=99999") == (200, {"limit": 1000, "from": 99999})
    assert get("limit=0")[0] == get("limit=1001")[0] == get("from=1.0")[0] == 422  # Powertools' own code, here
    operation = json.loads(app.get_openapi_json_schema())["paths"]["/page"]["get"]
    schemas = {parameter["name"]: parameter["schema"] for parameter in operation["parameters"]}
    assert (schemas["limit"]["minimum"], schemas["limit"]["maximum"], schemas["limit"]["default"]) == (1, 1000, 100)
    assert (schemas["from"]["minimum"], schemas["from"]["maximum"]) == (0, 99_999)


def test_a_repeated_query_parameter_is_a_400_naming_it_whatever_its_values(api, session):
    for query in ("windowIndex=1&windowIndex=2", "windowIndex=1&windowIndex=1", "windowIndex=&windowIndex=1"):
        assert grant(api, session, query) == (400, {"error": "windowIndex: given more than once"}), query


@pytest.mark.parametrize("query", ["windowIndex=1&sha256=x", "windowIndex=1&WindowIndex=2", "windowIndex=1&=1"])
def test_a_query_parameter_the_route_does_not_declare_is_a_400_naming_it(api, session, query):
    status, body = grant(api, session, query)
    name = query.split("&")[1].partition("=")[0] or "(empty name)"
    assert (status, body) == (400, {"error": f"{name}: not a query parameter of this route"})
    status, body = api.call("GET", f"/sessions/{session}", query="verbose=1")
    assert (status, body) == (400, {"error": "verbose: not a query parameter of this route"})
    # No route, no declared parameters: the answer is the 404, not a list of parameters it does not take.
    assert api.call("GET", "/nowhere", query="verbose=1") == (404, {"error": "no such route"})
    assert api.call("DELETE", f"/sessions/{session}", query="verbose=1") == (404, {"error": "no such route"})


# --- bodies ----------------------------------------------------------------------------------------------------

ROUTES = [  # (path, query, a valid body as text): every route that reads a body
    ("/sessions", None, '{"captureMode": "audio_only"}'),
    ("/sessions/{sid}/audio", "windowIndex=1", '{"sizeBytes": 10}'),
    ("/sessions/{sid}/frames", "windowIndex=1", '{"sizeBytes": 10, "frameCount": 3}'),
    ("/sessions/{sid}/complete", None, '{"expectedWindowCount": 2}'),
]
FIELD = {
    "/sessions": "captureMode",
    "/sessions/{sid}/audio": "sizeBytes",
    "/sessions/{sid}/frames": "frameCount",
    "/sessions/{sid}/complete": "expectedWindowCount",
}


def malformed(valid: str, field: str) -> list[tuple[str, str]]:
    """Bodies that are not a strict JSON object, each with the name its 400 must give."""
    value = valid.split(": ", 1)[1][:-1]
    return [
        ("[" * 5000 + "]" * 5000, "body"),  # past json's recursion limit: a RecursionError, a 500 before
        ("[" * 33 + "]" * 33, "body"),
        ('{"a":' * 33 + "1" + "}" * 33, "body"),
        (f'{{"{field}": ' + "[" * 33 + "]" * 33 + "}", "body"),
        (f'{{"{field}": {value}, "{field}": {value}}}', field),  # a repeated key: json keeps the last
        (f'{{"{field}": NaN}}', field),
        (f'{{"{field}": Infinity}}', field),
        (f'{{"{field}": -Infinity}}', field),
        (f'{{"{field}": [NaN]}}', f"{field}.0"),
        (f'{{"{field}": {"9" * 5000}}}', field),  # past int()'s 4,300 digits: a ValueError, a 500 before
        (f'{{"{field}": -{"9" * 101}}}', field),
        ("\ufeff" + valid, "body"),
        (valid + " x", "body"),
        (valid + "{}", "body"),
        (valid[:-1], "body"),
        ("", "body"),
        ("   ", "body"),
        ("null", "body"),
        ("[]", "body"),
        (f"[{valid}]", "body"),
        ('"{}"', "body"),
        ("1", "body"),
    ]


@pytest.mark.parametrize("path, query, valid", ROUTES)
def test_a_body_that_is_not_a_strict_json_object_is_a_400_naming_the_field_and_nothing_is_written(
    api, session, path, query, valid
):
    path = path.format(sid=session)
    before = table_items()
    for body, name in malformed(valid, FIELD[path.replace(session, "{sid}")]):
        status, response = api.call("POST", path, query=query, body=body, raw=True)
        assert status == 400, (body[:80], response)
        assert response["error"].startswith(f"{name}: "), (body[:80], response)
    assert table_items() == before


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("sizeBytes", "1.0", "sizeBytes: Input should be a valid integer"),
        ("sizeBytes", "1e3", "sizeBytes: Input should be a valid integer"),
        ("sizeBytes", "1e400", "sizeBytes: Input should be a valid integer"),
        ("sizeBytes", "true", "sizeBytes: Input should be a valid integer"),
        ("sizeBytes", '"1"', "sizeBytes: Input should be a valid integer"),
        ("sizeBytes", "null", "sizeBytes: Input should be a valid integer"),
        ("sizeBytes", "-1", "sizeBytes: Input should be greater than or equal to 1"),
        ("sizeBytes", "9" * 40, "sizeBytes: must be an integer from 1 to 10485760"),
        ("sizeBytes", "9" * 101, "sizeBytes: an integer of 101 digits is out of range"),
        ("sizeBytes", "NaN", "sizeBytes: NaN is not a JSON number"),
        ("sha256", "NaN", "sha256: NaN is not a JSON number"),
    ],
)
def test_a_body_integer_in_any_other_form_than_a_json_integer_in_range_is_a_400_naming_it(
    api, session, field, value, message
):
    body = f'{{"sizeBytes": 10, "{field}": {value}}}' if field != "sizeBytes" else f'{{"sizeBytes": {value}}}'
    assert grant(api, session, "windowIndex=1", body) == (400, {"error": message})


@pytest.mark.parametrize("path, query, valid", ROUTES)
def test_a_body_over_the_limit_is_a_413_before_anything_parses_it(api, session, path, query, valid, monkeypatch):
    path = path.format(sid=session)
    parsed = []
    real_loads = json.loads
    monkeypatch.setattr(json, "loads", lambda text, *a, **k: parsed.append(text) or real_loads(text, *a, **k))
    padding = " " * (contract.MAX_REQUEST_BODY_BYTES - len(valid))
    at_limit = valid[:-1] + padding + "}"
    over = [
        at_limit[:-1] + " }",  # one byte over, yet a valid body
        "[" * (contract.MAX_REQUEST_BODY_BYTES + 1),  # would be a 400 if it were parsed
        valid[:-1] + ", " + '"x": "' + "\u00e9" * (contract.MAX_REQUEST_BODY_BYTES // 2) + '"}',  # bytes, not chars
    ]
    before = table_items()
    for body in over:
        message = {"error": f"body: larger than {contract.MAX_REQUEST_BODY_BYTES} bytes"}
        assert api.call("POST", path, query=query, body=body, raw=True) == (413, message)
        assert api.call("POST", path, query=query, body=body.encode(), raw=True) == (413, message)  # base64 too
    assert not [text for text in parsed if text in over] and table_items() == before

    assert len(at_limit.encode()) == contract.MAX_REQUEST_BODY_BYTES
    assert api.call("POST", path, query=query, body=at_limit, raw=True)[0] in (200, 201, 202)


# --- path parameters -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "session_id",
    [
        "not-a-uuid",
        "a" * 3000,  # DynamoDB refuses a key over 2 KB with a ValidationException
        "%2e%2e",
        "%00",
        "%7B{sid}%7D",
        "{SID}",  # the same id in capitals is not the id we minted
        "{sid}%20",
        "urn:uuid:{sid}",
        "\u00e9",
    ],
)
def test_a_session_id_we_never_minted_is_a_404_on_every_route_and_is_not_looked_up(
    api, session, session_id, monkeypatch
):
    from handlers.dal.sessions_table import SessionsTable

    looked_up = []
    real_get = SessionsTable.get
    monkeypatch.setattr(
        SessionsTable, "get", lambda self, sid, *a, **k: looked_up.append(sid) or real_get(self, sid, *a, **k)
    )
    session_id = session_id.format(sid=session, SID=session.upper())
    for method, path, query, body in (
        ("GET", f"/sessions/{session_id}", None, None),
        ("POST", f"/sessions/{session_id}/audio", "windowIndex=1", '{"sizeBytes": 10}'),
        ("POST", f"/sessions/{session_id}/frames", "windowIndex=1", '{"sizeBytes": 10, "frameCount": 3}'),
        ("POST", f"/sessions/{session_id}/complete", None, '{"expectedWindowCount": 1}'),
        ("GET", f"/sessions/{session_id}/windows", None, None),
    ):
        assert api.call(method, path, query=query, body=body, raw=True) == (404, {"error": "session not found"}), path
    assert looked_up == []
