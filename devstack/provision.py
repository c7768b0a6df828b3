"""The deployed stack's AWS resources, created through boto3 clients: the one definition the local stack and tests use."""

from __future__ import annotations

import json
from typing import Any

from handlers import contract, layout

# What a processing consumer subscribes to: every SessionReady the stack emits.
SESSION_READY_PATTERN = {
    "source": [contract.PROCESSING_EVENT_SOURCE],
    "detail-type": [contract.PROCESSING_EVENT_DETAIL_TYPE],
}


def create_bucket(s3: Any, name: str, region: str) -> None:
    args: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":  # us-east-1 refuses a location constraint naming itself
        args["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**args)


def create_sessions_table(dynamodb: Any, name: str) -> None:
    """The sessions table: a header item and an item per window under each session's partition, rows expiring through the TTL attribute, and the sweeper's sparse
    index (only rows carrying its partition key, the pending mark, are on it)."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": contract.TABLE_HASH_KEY, "KeyType": "HASH"},
            {"AttributeName": contract.TABLE_RANGE_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": contract.TABLE_HASH_KEY, "AttributeType": "S"},
            {"AttributeName": contract.TABLE_RANGE_KEY, "AttributeType": "S"},
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
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": contract.TTL_ATTRIBUTE}
    )


def queue_arn(sqs: Any, queue_url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def notify_queue_of_windows(s3: Any, bucket: str, queue: str) -> None:
    """The bucket tells the queue (an ARN) of every half of a window created (the audio, the frames bundle): one
    configuration per half, with the key layout's filters, as the program configures its notification."""
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": "prefix", "Value": prefix},
                                {"Name": "suffix", "Value": suffix},
                            ]
                        }
                    },
                }
                for prefix, suffix in layout.object_filters()
            ]
        },
    )


def create_processing_bus(events: Any, bus: str, rule: str, queue: str) -> None:
    """The processing event bus, with a rule sending every SessionReady on it to the queue (an ARN)."""
    events.create_event_bus(Name=bus)
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(SESSION_READY_PATTERN))
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "session-ready-capture", "Arn": queue}])
