"""A deployed stack in moto, named by an outputs file as `pulumi stack output --json` writes it."""

from __future__ import annotations

import json

import boto3
import pytest

from ops import dlq
from tests.conftest import BUCKET, REGION, TABLE, mocked_stack

ACCOUNT = "123456789012"


def outputs(queue_urls: dict[str, str]) -> dict[str, str]:
    def function(name: str) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"

    return {
        "apiUrl": "https://api.example", "region": REGION,
        "bucketName": BUCKET, "bucketArn": f"arn:aws:s3:::{BUCKET}",
        "tableName": TABLE, "tableArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}",
        "dlqUrl": queue_urls["completion"], "dlqArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:completion-dlq",
        "sweeperDlqUrl": queue_urls["sweeper"], "sweeperDlqArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:sweeper-dlq",
        "completionFunctionName": "upload-completion", "completionFunctionArn": function("upload-completion"),
        "sweeperFunctionName": "sweeper", "sweeperFunctionArn": function("sweeper"),
    }


@pytest.fixture
def deployed(tmp_path, monkeypatch):
    """(outputs file, outputs): the stack's bucket, table and DLQs in moto. moto is one server, so its queues are read
    without the wait that a deployed stack's SQS needs for an empty answer to mean empty (1 s per read of an empty
    queue; test_commands proves that a deployed stack's reads ask for it)."""
    monkeypatch.setattr(dlq, "EMPTY_WAIT_SECONDS", 0)
    with mocked_stack():
        sqs = boto3.client("sqs", region_name=REGION)
        urls = {name: sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"] for name in ("completion", "sweeper")}
        values = outputs(urls)
        path = tmp_path / "outputs.json"
        path.write_text(json.dumps(values, indent=2))
        yield path, values
