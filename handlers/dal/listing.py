"""The session bucket's listing (ListObjectsV2, paged), as the sweeper's heal and the operator tools read it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from handlers.domain.ports import StoredObject


class S3Listing:
    """handlers.domain.ports.ObjectListing on one bucket. A listing under a prefix needs s3:ListBucket on the bucket,
    which the stack grants only for prefixes under the key layout's SESSIONS_PREFIX (an `s3:prefix` condition)."""

    def __init__(self, s3_client: Any, bucket: str):
        self._s3 = s3_client
        self._bucket = bucket

    def __call__(self, prefix: str) -> Iterator[StoredObject]:
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                # S3 events carry the ETag bare; listings quote it.
                yield StoredObject(obj["Key"], int(obj["Size"]), obj.get("ETag", "").strip('"'))
