"""The session bucket in S3, as the completion path reads it: HeadObject with checksums, ranged GETs, quarantine."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from handlers import layout
from handlers.domain.ports import ObjectHead


class S3Objects:
    """handlers.domain.ports.ObjectStore on one bucket."""

    def __init__(self, s3_client: Any, bucket: str):
        self._s3 = s3_client
        self._bucket = bucket

    def head(self, key: str) -> ObjectHead | None:
        try:
            response = self._s3.head_object(Bucket=self._bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectHead(
            size=int(response["ContentLength"]),
            etag=response.get("ETag", ""),
            checksum_sha256=response.get("ChecksumSHA256"),
            metadata=dict(response.get("Metadata") or {}),
        )

    def read(self, key: str, byte_range: str) -> bytes:
        return self._s3.get_object(Bucket=self._bucket, Key=key, Range=byte_range)["Body"].read()

    def quarantine(self, key: str, etag: str = "") -> str:
        target = layout.quarantine_key(key, etag)
        self._s3.copy_object(Bucket=self._bucket, Key=target, CopySource={"Bucket": self._bucket, "Key": key})
        self._s3.delete_object(Bucket=self._bucket, Key=key)
        return target
