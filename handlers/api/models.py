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


Range = list[int]
WINDOWS_PAGE_DEFAULT = 100
WINDOWS_PAGE_MAX = 1000


class SessionCreated(BaseModel):
    sessionId: str
    captureMode: CaptureMode
    status: Status
    createdAt: str


class Counts(BaseModel):
    audio: int = Field(description="Windows whose audio arrived.")
    frames: int = Field(description="Windows whose frames bundle arrived.")
    recorded: int = Field(description="Windows with every half they need.")
    ingested: int = Field(description="Windows whose ingest was triggered.")
    invalid: int = Field(description="Windows with a half that failed validation.")


class SessionStatus(SessionCreated):
    expectedWindowCount: Optional[int]
    counts: Counts
    recordedWindows: list[Range] = Field(description="Recorded windows as sorted inclusive ranges [first, last].")
    ingestedWindows: list[Range]
    missingWindows: list[Range] = Field(description="Windows below expectedWindowCount not (fully) recorded.")
    invalidWindows: list[Range]
    unexpectedWindows: list[Range] = Field(description="Windows with a half at or above expectedWindowCount.")


class WavFormat(BaseModel):
    sampleRate: int
    channels: int
    bitsPerSample: int
    durationSeconds: float


class HalfDetail(BaseModel):
    sizeBytes: int
    etag: str
    checksumSha256: Optional[str] = Field(description="The object's SHA-256 checksum as S3 reports it (base64).")
    recordedAt: str
    frameCount: Optional[int] = None
    format: Optional[WavFormat] = None


class WindowDetail(BaseModel):
    windowIndex: int
    audio: Optional[HalfDetail]
    frames: Optional[HalfDetail]
    recorded: bool
    ingested: bool
    invalid: Optional[str] = Field(description="Why a half of the window was refused, if one was.")


class WindowsPage(BaseModel):
    windows: list[WindowDetail] = Field(description="Windows with at least one half recorded, in window order.")
    next: Optional[int] = Field(description="The `from` of the next page; null on the last page.")


class UploadGrant(BaseModel):
    url: str
    s3Key: str
    windowIndex: int
    expiresIn: int
    headers: dict[str, str] = Field(description="Every header the PUT must carry, exactly as given.")


class ErrorBody(BaseModel):
    error: str
