"""Fixtures shared by every layer: fake AWS credentials, and moto with the stack's bucket and table."""

from __future__ import annotations

import importlib
import os
import sys

import boto3
import pytest
from moto import mock_aws

from handlers import contract

REGION = "eu-west-1"
BUCKET = "session-uploads-test"
TABLE = "session-uploads-sessions-test"
INGEST_FUNCTION = "session-uploads-ingest-test"


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch):
    """No test may reach a real account: fake credentials and region, and no endpoint overrides."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "session-uploads-test")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")


def create_table(dynamodb, name: str = TABLE):
    return dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": contract.TABLE_HASH_KEY, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": contract.TABLE_HASH_KEY, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def aws(monkeypatch):
    """moto with the stack's bucket and table, and the handlers' environment variables set."""
    monkeypatch.setenv(contract.ENV_BUCKET_NAME, BUCKET)
    monkeypatch.setenv(contract.ENV_SESSIONS_TABLE_NAME, TABLE)
    monkeypatch.setenv(contract.ENV_INGEST_FUNCTION_NAME, INGEST_FUNCTION)
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        create_table(boto3.resource("dynamodb", region_name=REGION))
        yield


def load_handler(module: str):
    """Import (or re-import) a handler module inside the mock, so its module-level clients are mocked."""
    if module in sys.modules:
        return importlib.reload(sys.modules[module])
    return importlib.import_module(module)
