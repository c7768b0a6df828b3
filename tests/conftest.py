"""Fixtures shared by every layer: fake AWS credentials, and moto with the stack's bucket and table."""

from __future__ import annotations

import contextlib
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


FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "POWERTOOLS_SERVICE_NAME": "session-uploads-test",
    "POWERTOOLS_TRACE_DISABLED": "true",
}
HANDLER_ENV = {
    contract.ENV_BUCKET_NAME: BUCKET,
    contract.ENV_SESSIONS_TABLE_NAME: TABLE,
    contract.ENV_INGEST_FUNCTION_NAME: INGEST_FUNCTION,
}


def _fake_environment(patch: pytest.MonkeyPatch) -> None:
    """No test may reach a real account: fake credentials and region, and no endpoint overrides."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            patch.delenv(name, raising=False)
    for name, value in FAKE_ENV.items():
        patch.setenv(name, value)


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch):
    _fake_environment(monkeypatch)


def create_table(dynamodb, name: str = TABLE):
    """The sessions table as the stack defines it: keyed by session, with the sweeper's sparse index."""
    return dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": contract.TABLE_HASH_KEY, "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": contract.TABLE_HASH_KEY, "AttributeType": "S"},
            {"AttributeName": contract.PENDING_INDEX_HASH_KEY, "AttributeType": "S"},
            {"AttributeName": contract.PENDING_INDEX_RANGE_KEY, "AttributeType": "N"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": contract.PENDING_INDEX_NAME,
                "KeySchema": [
                    {"AttributeName": contract.PENDING_INDEX_HASH_KEY, "KeyType": "HASH"},
                    {"AttributeName": contract.PENDING_INDEX_RANGE_KEY, "KeyType": "RANGE"},
                ],
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": list(contract.PENDING_INDEX_PROJECTED_ATTRIBUTES),
                },
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


@contextlib.contextmanager
def mocked_stack():
    """moto with the stack's bucket and table, and the handlers' environment variables set."""
    with pytest.MonkeyPatch.context() as patch:
        _fake_environment(patch)
        for name, value in HANDLER_ENV.items():
            patch.setenv(name, value)
        with mock_aws():
            boto3.client("s3", region_name=REGION).create_bucket(
                Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
            create_table(boto3.resource("dynamodb", region_name=REGION))
            yield patch


@pytest.fixture
def aws():
    with mocked_stack() as patch:
        yield patch


@pytest.fixture(scope="module")
def aws_module():
    """The same, shared by a module's tests: each test works on its own sessions."""
    with mocked_stack() as patch:
        yield patch


def load_handler(module: str):
    """Import (or re-import) a handler module inside the mock, so its module-level clients are mocked."""
    if module in sys.modules:
        return importlib.reload(sys.modules[module])
    return importlib.import_module(module)
