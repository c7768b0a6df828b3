"""Grant one presigned PUT of a window's half, bound to its key, exact size, content type, write-once, (optionally)
SHA-256 and, for a frames bundle, its frame count."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from handlers import layout
from handlers.contract import FRAME_COUNT_METADATA, MAX_FRAMES_PER_WINDOW, Status
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


def grant_upload(
    media: layout.Media,
    session_id: str,
    user_id: str,
    window_index: int,
    size_bytes: int,
    sha256: str | None,
    *,
    frame_count: int | None = None,
    store: SessionRepository,
    s3_client: Any,
    bucket: str,
    expires_in: int,
    max_bytes: int,
) -> Grant:
    """A presigned PUT of one half of a window: the audio, or (audio_video sessions only) the frames bundle, whose
    declared `frame_count` the grant binds as signed object metadata. The caller must own a recording session; the
    URL's signature covers every header it returns.

    Checked in this order, so that each refusal names the first thing wrong: the input (400), the session's owner
    (404), the session's capture mode (400: frames for an audio_only session can never be granted), its state (409),
    and whether this half of the window is already recorded (409: write-once).
    """
    media = layout.Media(media)
    if not layout.is_window_index(window_index):
        raise BadRequest(f"windowIndex: must be an integer in the range 0 to {layout.MAX_WINDOW_INDEX}")
    if not 1 <= size_bytes <= max_bytes:
        raise BadRequest(f"sizeBytes: must be an integer from 1 to {max_bytes}")
    if media is layout.Media.FRAMES:
        if isinstance(frame_count, bool) or not isinstance(frame_count, int) or not (
            1 <= frame_count <= MAX_FRAMES_PER_WINDOW
        ):
            raise BadRequest(f"frameCount: must be an integer from 1 to {MAX_FRAMES_PER_WINDOW}")
    elif frame_count is not None:
        raise BadRequest("frameCount: only a frames bundle has a frame count")
    if sha256 is not None:
        validate_sha256(sha256)
    session, window = load_owned_window(session_id, user_id, window_index, store)
    if media not in session.capture_mode.halves:
        raise BadRequest(f"{media}: this session's captureMode is {session.capture_mode}, which records no {media}")
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
    if frame_count is not None:
        # Signed object metadata: the object itself carries the count the client declared, and the completion path
        # checks the bundle's entries against it. A PUT without it, or with another count, fails the signature.
        params["Metadata"] = {FRAME_COUNT_METADATA: str(frame_count)}
        headers[f"x-amz-meta-{FRAME_COUNT_METADATA}"] = str(frame_count)
    if sha256 is not None:
        params["ChecksumSHA256"] = sha256
        headers["x-amz-checksum-sha256"] = sha256
    url = s3_client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_in)
    return Grant(url=url, s3_key=key, window_index=window_index, expires_in=expires_in, headers=headers)
