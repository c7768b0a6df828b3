"""The HTTP contract's bodies as pydantic models: validation in the resolver, and the OpenAPI schemas."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Optional

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr
from pydantic_core import PydanticCustomError

from handlers import contract, layout

# The contract's closed sets, as the bodies spell them.
CaptureMode = Literal[tuple(mode.value for mode in contract.CaptureMode)]
Status = Literal[tuple(status.value for status in contract.Status)]


# A query integer is spelled as JSON spells a non-negative integer: decimal digits, no sign, spaces, fraction,
# exponent, underscores, other scripts' digits or leading zeros; so each value has one spelling (as keys do).
_DECIMAL = re.compile(r"0|[1-9][0-9]*", re.ASCII)


def query_int(minimum: int, maximum: int, **query: Any) -> Any:
    """The type of a strict integer query parameter from `minimum` to `maximum`, for a route's signature:

        windowIndex: query_int(0, layout.MAX_WINDOW_INDEX)
        limit: query_int(1, 1000) = 100
        start: query_int(0, layout.MAX_WINDOW_INDEX, alias="from") = 0

    `query` goes to Powertools' `Query` (alias, description, ...). Anything else than the canonical decimal
    spelling of an integer in range (`1.0`, `1e3`, ` 1`, `+1`, `01`, `1_0`, empty, `1,2` as API Gateway joins a
    repeated parameter, a thousand digits) is a 400 naming the parameter and the range, never a coerced value."""

    def parse(value: object) -> int:
        text = value if isinstance(value, str) else ""
        # The length test first: int() of a huge digit string is slow, and past 4,300 digits a ValueError.
        if len(text) <= len(str(maximum)) and _DECIMAL.fullmatch(text) and minimum <= int(text) <= maximum:
            return int(text)
        raise PydanticCustomError(
            "query_int",
            "must be an integer from {minimum} to {maximum} in decimal digits",
            {"minimum": minimum, "maximum": maximum},
        )

    # The validator is the range check; the schema only documents it (as ge/le beside a validator it would not).
    documented = {"minimum": minimum, "maximum": maximum, **query.pop("json_schema_extra", {})}
    return Annotated[int, BeforeValidator(parse), Query(json_schema_extra=documented, **query)]


class _Body(BaseModel):
    # Each model's validator and serializer are built on its first use, not at import: a cold start builds only the
    # ones its first request needs (the others' are for other routes, and for the OpenAPI document).
    model_config = ConfigDict(defer_build=True)


class _Strict(_Body):
    # Unknown fields are refused: a misspelt field would otherwise be silently ignored.
    model_config = ConfigDict(extra="forbid")


class CreateSessionRequest(_Strict):
    captureMode: CaptureMode


# Both grants take the same optional checksum.
Sha256 = Annotated[
    Optional[StrictStr], Field(description="Base64 SHA-256 of the bytes; when given, S3 verifies it on PUT.")
]


class AudioGrantRequest(_Strict):
    sizeBytes: StrictInt = Field(ge=1, description="Exact size of the window's audio in bytes; at most MAX_AUDIO_BYTES.")
    sha256: Sha256 = None


class FramesGrantRequest(_Strict):
    sizeBytes: StrictInt = Field(
        ge=1, description="Exact size of the window's frames bundle (a ZIP) in bytes; at most MAX_FRAMES_BYTES."
    )
    frameCount: StrictInt = Field(
        ge=1,
        le=contract.MAX_FRAMES_PER_WINDOW,
        description="How many frames the bundle holds: one ZIP entry per frame. Bound to the object as signed "
        "metadata (x-amz-meta-frame-count); a bundle whose entries differ is recorded invalid.",
    )
    sha256: Sha256 = None


class AudioUpload(AudioGrantRequest):
    half: Literal["audio"]
    windowIndex: StrictInt = Field(ge=0, le=layout.MAX_WINDOW_INDEX)


class FramesUpload(FramesGrantRequest):
    half: Literal["frames"]
    windowIndex: StrictInt = Field(ge=0, le=layout.MAX_WINDOW_INDEX)


class GrantsRequest(_Strict):
    uploads: list[Annotated[AudioUpload | FramesUpload, Field(discriminator="half")]] = Field(
        min_length=1,
        max_length=contract.MAX_GRANTS_PER_REQUEST,
        description="The halves to grant, each once: as the audio and frames routes' bodies, with the window's index "
        "and which half it is.",
    )


class CompleteRequest(_Strict):
    expectedWindowCount: StrictInt = Field(ge=0, le=layout.MAX_WINDOW_INDEX + 1)


Range = list[int]
WINDOWS_PAGE_DEFAULT = 100
WINDOWS_PAGE_MAX = 1000


class SessionCreated(_Body):
    sessionId: str
    captureMode: CaptureMode
    status: Status
    createdAt: str


class Counts(_Body):
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


class WavFormat(_Body):
    sampleRate: int
    channels: int
    bitsPerSample: int
    durationSeconds: float


class HalfDetail(_Body):
    sizeBytes: int
    etag: str
    checksumSha256: Optional[str] = Field(description="The object's SHA-256 checksum as S3 reports it (base64).")
    recordedAt: str
    frameCount: Optional[int] = None
    format: Optional[WavFormat] = None


class WindowDetail(_Body):
    windowIndex: int
    audio: Optional[HalfDetail]
    frames: Optional[HalfDetail]
    recorded: bool
    ingested: bool
    invalid: Optional[str] = Field(description="Why a half of the window was refused, if one was.")


class WindowsPage(_Body):
    windows: list[WindowDetail] = Field(description="Windows with at least one half recorded, in window order.")
    next: Optional[int] = Field(description="The `from` of the next page; null on the last page.")


class UploadGrant(_Body):
    url: str
    s3Key: str
    windowIndex: int
    expiresIn: int
    headers: dict[str, str] = Field(description="Every header the PUT must carry, exactly as given.")


class HalfGrant(UploadGrant):
    half: Literal["audio", "frames"]


class RefusedHalf(_Body):
    windowIndex: int
    half: Literal["audio", "frames"]
    error: str = Field(description="Why it is not granted: the half is already recorded (write-once).")


class Grants(_Body):
    grants: list[HalfGrant] = Field(description="The halves granted, in the order asked for.")
    refused: list[RefusedHalf] = Field(
        description="The halves already recorded, each refused as the audio and frames routes refuse it with a 409."
    )


class ErrorBody(_Body):
    error: str
