"""bench/floor_api.py is what bench.handlers says it is: an API that validates its body and writes its item, and
imports none of the handlers' code but the contract's names and the collector's pause that every handler starts
with (handlers/coldstart.py)."""

import json
import subprocess
import sys

import boto3

from bench.handlers import PROJECT_DIR, Context
from devstack.apigw import http_api_event
from handlers import contract
from tests.conftest import REGION, TABLE, load_handler


def create(floor, body: str) -> dict:
    return floor.lambda_handler(http_api_event("POST", "/sessions", body=body, claims={"sub": "bench"}), Context())


def test_the_floor_creates_a_session_item_and_refuses_an_invalid_body_without_writing(aws):
    floor = load_handler("bench.floor_api")
    table = boto3.resource("dynamodb", region_name=REGION).Table(TABLE)

    created = create(floor, '{"captureMode": "audio_only"}')

    assert created["statusCode"] == 201, created
    session_id = json.loads(created["body"])["sessionId"]
    item = table.get_item(Key={contract.TABLE_HASH_KEY: session_id, contract.TABLE_RANGE_KEY: "session"})["Item"]
    assert item["captureMode"] == "audio_only"
    for invalid in ('{"captureMode": "audio_only", "extra": 1}', "{}", '{"captureMode": 1}', "not json"):
        assert create(floor, invalid)["statusCode"] == 422, invalid
    assert table.scan()["Count"] == 1


def test_the_floor_imports_no_handler_module_but_the_contracts_names_and_the_cold_start_pause():
    imported = subprocess.run(
        [sys.executable, "-c", "import json, sys, bench.floor_api; "
         "print(json.dumps(sorted(m for m in sys.modules if m.startswith('handlers'))))"],
        env={"PATH": "", "AWS_DEFAULT_REGION": REGION, contract.ENV_SESSIONS_TABLE_NAME: TABLE,
             "POWERTOOLS_TRACE_DISABLED": "true"},
        cwd=PROJECT_DIR, capture_output=True, text=True, check=True,
    ).stdout
    assert json.loads(imported) == ["handlers", "handlers.coldstart", "handlers.contract", "handlers.layout"]
