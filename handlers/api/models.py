"""The HTTP contract's bodies as pydantic models: validation in the resolver, and the OpenAPI schemas."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from handlers import layout

CaptureMode = Literal["audio_only", "audio_video"]
Status = Literal["recording", "finalizing", "ready", "incomplete"]


class _Strict(BaseModel):
    # Unknown fields are refused: a misspelt field would otherwise be silently ignored.
    model_config = ConfigDict(extra="forbid")


class CreateSessionRequest(_Strict):
    captureMode: CaptureMode


class GrantRequest(_Strict):
    sizeBytes: StrictInt = Field(ge=1, description="Exact size of the window's bytes; at most MAX_AUDIO_BYTES.")
    sha256: Optional[StrictStr] = Field(
        default=None, description="Base64 SHA-256 of the bytes; when given, S3 verifies it on PUT."
    )


class CompleteRequest(_Strict):
    expectedWindowCount: StrictInt = Field(ge=0, le=layout.MAX_WINDOW_INDEX + 1)


class SessionCreated(BaseModel):
    sessionId: str
    captureMode: CaptureMode
    status: Status
    createdAt: str


class SessionStatus(SessionCreated):
    completedAudioWindows: list[int]
    completedFrameWindows: list[int]
    ingestTriggeredWindows: list[int]
    expectedWindowCount: Optional[int]
    missingWindows: list[int] = Field(description="Windows below expectedWindowCount not (fully) recorded.")
    unexpectedWindows: list[int] = Field(description="Windows recorded at or above expectedWindowCount.")


class UploadGrant(BaseModel):
    url: str
    s3Key: str
    windowIndex: int
    expiresIn: int
    headers: dict[str, str] = Field(description="Every header the PUT must carry, exactly as given.")


class ErrorBody(BaseModel):
    error: str
