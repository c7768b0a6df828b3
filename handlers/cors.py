"""What a browser may send and read, for the bucket (granted PUTs) and the HTTP API: one definition that the program
deploys and the local stack enforces. Origins are not here: they come from stack config or the local stack's caller."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

# An origin that may be allowed: scheme://host[:port] with no path; https, or http on the loopback only. Never a
# wildcard: it would let any site upload with a granted URL.
_ORIGIN = re.compile(r"https://[a-z0-9.-]+(:\d+)?|http://(localhost|127\.0\.0\.1)(:\d+)?")

# -- the bucket ------------------------------------------------------------------------------------------------------
BUCKET_ALLOWED_METHODS = ("PUT",)
# Every header a grant can bind that a browser lists in a preflight's Access-Control-Request-Headers. Not
# Content-Length (nor Host): a browser sets those itself and never asks for them. A grant binding a header that is
# missing here breaks every browser upload at the preflight, which tests/handlers' grant contract test guards.
BUCKET_ALLOWED_HEADERS = (
    "content-type",
    "x-amz-checksum-sha256",
    "if-none-match",  # write-once grants (DESIGN v2)
    "x-amz-meta-frame-count",  # the frames grant's signed metadata (DESIGN v2)
)
# A browser reads only the response headers CORS exposes: the client reports the stored object's ETag.
BUCKET_EXPOSE_HEADERS = ("ETag",)
BUCKET_MAX_AGE_SECONDS = 3600

# -- the HTTP API ----------------------------------------------------------------------------------------------------
API_ALLOWED_METHODS = ("GET", "POST")
API_ALLOWED_HEADERS = ("authorization", "content-type")
API_MAX_AGE_SECONDS = 3600


def is_allowable_origin(origin: str) -> bool:
    return _ORIGIN.fullmatch(origin) is not None


def bucket_cors_rules(origins: Sequence[str]) -> list[dict[str, Any]]:
    """The bucket's CORS rules in S3's API shape (PutBucketCors `CORSRules`); none without an origin."""
    if not origins:
        return []
    return [
        {
            "AllowedMethods": list(BUCKET_ALLOWED_METHODS),
            "AllowedOrigins": list(origins),
            "AllowedHeaders": list(BUCKET_ALLOWED_HEADERS),
            "ExposeHeaders": list(BUCKET_EXPOSE_HEADERS),
            "MaxAgeSeconds": BUCKET_MAX_AGE_SECONDS,
        }
    ]
