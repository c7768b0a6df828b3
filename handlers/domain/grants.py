"""Grant one presigned PUT bound to a window's key, exact size, content type and (optionally) SHA-256."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from handlers import layout
from handlers.contract import Status
from handlers.domain.errors import BadRequest, Conflict
from handlers.domain.ports import SessionRepository
from handlers.domain.sessions import load_owned_window


@dataclass(frozen=True)
class Grant:
    url: str
    s3_key: str
    window_index: int
    expires_in: int
    headers: dict[str, str]

    def body(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "s3Key": self.s3_key,
            "windowIndex": self.window_index,
            "expiresIn": self.expires_in,
            "headers": self.headers,
        }


def validate_sha256(value: str) -> str:
    """A standard base64 encoding of 32 bytes, exactly as S3 expects in x-amz-checksum-sha256."""
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("sha256: must be the base64 encoding of a SHA-256 digest") from None
    if len(digest) != 32 or base64.b64encode(digest).decode() != value:
        raise BadRequest("sha256: must be the base64 encoding of a SHA-256 digest (32 bytes)")
    return value


def grant_audio_upload(
    session_id: str,
    user_id: str,
    window_index: int,
    size_bytes: int,
    sha256: str | None,
    *,
    store: SessionRepository,
    s3_client: Any,
    bucket: str,
    expires_in: int,
    max_bytes: int,
) -> Grant:
    """The caller must own a recording session; the URL's signature covers every header it returns."""
    if not layout.is_window_index(window_index):
        raise BadRequest(f"windowIndex: must be an integer in the range 0 to {layout.MAX_WINDOW_INDEX}")
    if not 1 <= size_bytes <= max_bytes:
        raise BadRequest(f"sizeBytes: must be an integer from 1 to {max_bytes}")
    if sha256 is not None:
        validate_sha256(sha256)
    media = layout.Media.AUDIO
    session, window = load_owned_window(session_id, user_id, window_index, store)
    if session.status is not Status.RECORDING:
        raise Conflict(f"session is {session.status}: it no longer accepts uploads")
    if window is not None and window.has(media):
        # Write-once: the recorded half is what was ingested. A refused (invalid) upload is not recorded, so its
        # window may be granted again.
        raise Conflict(f"window {window_index}: its {media} is already recorded")
    key = layout.object_key(session_id, window_index, media)
    # If-None-Match: * makes the key write-once: S3 answers 412 to a PUT of a key that already holds an object,
    # so a recorded window can never be overwritten, by a retry or by a buggy client.
    headers = {"Content-Type": media.content_type, "Content-Length": str(size_bytes), "If-None-Match": "*"}
    params: dict[str, Any] = {
        "Bucket": bucket,
        "Key": key,
        "ContentType": media.content_type,
        "ContentLength": size_bytes,
        "IfNoneMatch": "*",
    }
    if sha256 is not None:
        params["ChecksumSHA256"] = sha256
        headers["x-amz-checksum-sha256"] = sha256
    url = s3_client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_in)
    return Grant(url=url, s3_key=key, window_index=window_index, expires_in=expires_in, headers=headers)
