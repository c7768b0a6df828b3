"""S3 "object created" events as the completion Lambda receives them: notification records, EventBridge events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from devstack.runtime import ACCOUNT_ID

DEFAULT_REGION = "eu-west-1"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def notification_record(
    bucket: str,
    key: str,
    *,
    size: int = 0,
    etag: str = "",
    event_name: str = "ObjectCreated:Put",
    region: str = DEFAULT_REGION,
    encode: bool = True,
) -> dict[str, Any]:
    """One record of an S3 event notification. S3 sends the key URL-encoded; `encode=False` sends it as given."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": _now(),
        "eventName": event_name,
        "s3": {
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": quote_plus(key) if encode else key, "size": size, "eTag": etag, "sequencer": "01"},
        },
    }


def notification(*records: dict[str, Any]) -> dict[str, Any]:
    """An S3 event notification carrying these records, as S3 invokes a Lambda directly."""
    return {"Records": list(records)}


def object_created(
    bucket: str,
    key: str,
    *,
    size: int = 0,
    etag: str = "",
    detail_type: str = "Object Created",
    region: str = DEFAULT_REGION,
) -> dict[str, Any]:
    """The EventBridge event S3's EventBridge notifications send for an object (the key raw, not encoded)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.s3",
        "account": ACCOUNT_ID,
        "time": _now(),
        "region": region,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": size, "etag": etag, "sequencer": "01"},
            "reason": "PutObject",
        },
    }
