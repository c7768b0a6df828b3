"""Grant one presigned PUT of a window's half, bound to its key, exact size, content type, write-once, (optionally)
SHA-256 and, for a frames bundle, its frame count."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from handlers import layout
from handlers.contract import FRAME_COUNT_METADATA, MAX_FRAMES_PER_WINDOW, MAX_GRANTS_PER_REQUEST, Status
from handlers.domain.entities import Session, Window
from handlers.domain.errors import BadRequest, Conflict
from handlers.domain.ports import SessionRepository
from handlers.domain.sessions import load_owned_window, load_owned_windows


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


@dataclass(frozen=True)
class HalfRequest:
    """One half asked for: which window and half, its exact size, and optionally its SHA-256 and (frames) frame count."""

    media: layout.Media
    window_index: int
    size_bytes: int
    sha256: str | None = None
    frame_count: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "media", layout.Media(self.media))  # "audio" is Media.AUDIO, from here on


@dataclass(frozen=True)
class Refused:
    """A half of a batch not granted, because it is already recorded (write-once: a 409 on its own route)."""

    media: layout.Media
    window_index: int
    error: str

    def body(self) -> dict[str, Any]:
        return {"windowIndex": self.window_index, "half": str(self.media), "error": self.error}


@dataclass(frozen=True)
class Signer:
    """What a grant is signed with: the S3 client, the bucket, the URLs' lifetime, and each half's size limit."""

    s3_client: Any
    bucket: str
    expires_in: int
    max_bytes: dict[layout.Media, int]


def grant_upload(
    request: HalfRequest, session_id: str, user_id: str, *, store: SessionRepository, signer: Signer
) -> Grant:
    """A presigned PUT of one half of a window: the audio, or (audio_video sessions only) the frames bundle, whose
    declared `frame_count` the grant binds as signed object metadata. The caller must own a recording session; the
    URL's signature covers every header it returns.

    Checked in this order, so that each refusal names the first thing wrong: the input (400), the session's owner
    (404), the session's capture mode (400: frames for an audio_only session can never be granted), its state (409),
    and whether this half of the window is already recorded (409: write-once).
    """
    _check_input(request, signer)
    session, window = load_owned_window(session_id, user_id, request.window_index, store)
    _check_session(session, request.media)
    if (refused := _recorded(request, window)) is not None:
        raise Conflict(refused.error)
    return _presign(request, session_id, signer)


def grant_uploads(
    requests: Sequence[HalfRequest], session_id: str, user_id: str, *, store: SessionRepository, signer: Signer
) -> tuple[list[tuple[layout.Media, Grant]], list[Refused]]:
    """Several halves of a session's windows at once, in one read of the session and of those windows: the grants, in
    the order asked for, and the halves already recorded. Refused as a whole, as `grant_upload` refuses one half, when
    any half's input is invalid (its position named), a half is asked for twice (400), the session is not the
    caller's (404), it records no frames and frames are asked for (400), or it no longer records (409)."""
    if not 1 <= len(requests) <= MAX_GRANTS_PER_REQUEST:
        raise BadRequest(f"uploads: must hold from 1 to {MAX_GRANTS_PER_REQUEST} halves")
    seen: set[tuple[layout.Media, int]] = set()
    for position, request in enumerate(requests):
        try:
            _check_input(request, signer)
        except BadRequest as error:
            raise BadRequest(f"uploads[{position}].{error}") from None
        if (request.media, request.window_index) in seen:
            raise BadRequest(f"uploads[{position}]: window {request.window_index}'s {request.media} is asked for twice")
        seen.add((request.media, request.window_index))
    session, windows = load_owned_windows(session_id, user_id, sorted({r.window_index for r in requests}), store)
    for media in dict.fromkeys(r.media for r in requests):
        _check_session(session, media)
    grants: list[tuple[layout.Media, Grant]] = []
    refused: list[Refused] = []
    for request in requests:
        if (refusal := _recorded(request, windows.get(request.window_index))) is not None:
            refused.append(refusal)
        else:
            grants.append((request.media, _presign(request, session_id, signer)))
    return grants, refused


def _check_input(request: HalfRequest, signer: Signer) -> None:
    """BadRequest naming the first field of the request that is invalid."""
    media = request.media
    if not layout.is_window_index(request.window_index):
        raise BadRequest(f"windowIndex: must be an integer in the range 0 to {layout.MAX_WINDOW_INDEX}")
    max_bytes = signer.max_bytes[media]
    if not 1 <= request.size_bytes <= max_bytes:
        raise BadRequest(f"sizeBytes: must be an integer from 1 to {max_bytes}")
    frame_count = request.frame_count
    if media is layout.Media.FRAMES:
        if isinstance(frame_count, bool) or not isinstance(frame_count, int) or not (
            1 <= frame_count <= MAX_FRAMES_PER_WINDOW
        ):
            raise BadRequest(f"frameCount: must be an integer from 1 to {MAX_FRAMES_PER_WINDOW}")
    elif frame_count is not None:
        raise BadRequest("frameCount: only a frames bundle has a frame count")
    if request.sha256 is not None:
        validate_sha256(request.sha256)


def _check_session(session: Session, media: layout.Media) -> None:
    if media not in session.capture_mode.halves:
        raise BadRequest(f"{media}: this session's captureMode is {session.capture_mode}, which records no {media}")
    if session.status is not Status.RECORDING:
        raise Conflict(f"session is {session.status}: it no longer accepts uploads")


def _recorded(request: HalfRequest, window: Window | None) -> Refused | None:
    """The refusal of a half already recorded. Write-once: the recorded half is what was ingested. A refused (invalid)
    upload is not recorded, so its window may be granted again."""
    if window is not None and window.has(request.media):
        error = f"window {request.window_index}: its {request.media} is already recorded"
        return Refused(request.media, request.window_index, error)
    return None


def _presign(request: HalfRequest, session_id: str, signer: Signer) -> Grant:
    media, size_bytes = request.media, request.size_bytes
    key = layout.object_key(session_id, request.window_index, media)
    # If-None-Match: * makes the key write-once: S3 answers 412 to a PUT of a key that already holds an object,
    # so a recorded window can never be overwritten, by a retry or by a buggy client.
    headers = {"Content-Type": media.content_type, "Content-Length": str(size_bytes), "If-None-Match": "*"}
    params: dict[str, Any] = {
        "Bucket": signer.bucket,
        "Key": key,
        "ContentType": media.content_type,
        "ContentLength": size_bytes,
        "IfNoneMatch": "*",
    }
    if request.frame_count is not None:
        # Signed object metadata: the object itself carries the count the client declared, and the completion path
        # checks the bundle's entries against it. A PUT without it, or with another count, fails the signature.
        params["Metadata"] = {FRAME_COUNT_METADATA: str(request.frame_count)}
        headers[f"x-amz-meta-{FRAME_COUNT_METADATA}"] = str(request.frame_count)
    if request.sha256 is not None:
        params["ChecksumSHA256"] = request.sha256
        headers["x-amz-checksum-sha256"] = request.sha256
    url = signer.s3_client.generate_presigned_url("put_object", Params=params, ExpiresIn=signer.expires_in)
    return Grant(url=url, s3_key=key, window_index=request.window_index, expires_in=signer.expires_in, headers=headers)
