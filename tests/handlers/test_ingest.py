"""The default ingest target: one record per invocation, idempotent across that invocation's retries."""

import json
import uuid

import boto3
import pytest

from handlers import layout
from tests.conftest import BUCKET, REGION, load_handler
from tests.handlers.conftest import LambdaContext


@pytest.fixture(scope="module")
def ingest(aws_module):
    return load_handler("handlers.ingest.app")


def records(session_id):
    s3 = boto3.client("s3", region_name=REGION)
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{layout.INGEST_RECORDS_PREFIX}{session_id}/")
    return [json.loads(s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()) for o in listed.get("Contents", [])]


def test_retries_of_one_invocation_write_one_record_and_a_second_invocation_another(ingest):
    sid = str(uuid.uuid4())
    request = {"sessionId": sid, "userId": "alice", "windowIndex": 3, "frameCount": 0}
    first = LambdaContext()
    key = ingest.lambda_handler(request, first)["key"]
    ingest.lambda_handler(request, first)  # Lambda's retry of the same invocation
    assert key.startswith(layout.INGEST_RECORDS_PREFIX) and layout.parse_key(key) is None
    assert [r["requestId"] for r in records(sid)] == [first.aws_request_id]
    ingest.lambda_handler(request, LambdaContext())  # a second trigger: visible, not hidden
    assert len(records(sid)) == 2
    assert records(sid)[0] | {"requestId": None} == request | {"requestId": None}


@pytest.mark.parametrize(
    "request_body",
    [
        {},
        {"sessionId": "x", "userId": "u", "windowIndex": 0, "frameCount": 0},
        {"sessionId": str(uuid.uuid4()), "userId": "u", "windowIndex": -1, "frameCount": 0},
    ],
)
def test_malformed_requests_raise(ingest, request_body):
    with pytest.raises(ValueError):
        ingest.lambda_handler(request_body, LambdaContext())
