"""Malformed input to the API Lambda, as API Gateway hands it over: every case a 4xx naming what is wrong (413 for
a body over the documented limit), never a 500, never a coerced value, and nothing written."""

import json

import boto3
import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from devstack.apigw import http_api_event
from handlers import layout
from handlers.api.models import query_int
from tests.conftest import REGION, TABLE
from tests.handlers.conftest import LambdaContext

RANGE = f"must be an integer from 0 to {layout.MAX_WINDOW_INDEX} in decimal digits"


def table_items():
    return boto3.resource("dynamodb", region_name=REGION).Table(TABLE).scan(ConsistentRead=True)["Items"]


@pytest.fixture
def session(api):
    return api.create()


def grant(api, session, query, body='{"sizeBytes": 10}'):
    return api.call("POST", f"/sessions/{session}/audio", query=query, body=body, raw=True)


# --- query integers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "1.0", "1e0", "1e3", " 1", "1 ", "\t1", "+1", "-0", "-1", "01", "00", "1_0", "0x1", "1,2", "", "true",
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
