"""The project's facts besides the key layout: limits, enumerations, environment variable names and defaults."""

from __future__ import annotations

import enum

from handlers.layout import Media


class CaptureMode(enum.StrEnum):
    AUDIO_ONLY = "audio_only"
    AUDIO_VIDEO = "audio_video"

    @property
    def halves(self) -> tuple[Media, ...]:
        """The halves a window needs before it is recorded."""
        return (Media.AUDIO,) if self is CaptureMode.AUDIO_ONLY else (Media.AUDIO, Media.FRAMES)


class EventTransport(enum.StrEnum):
    """How S3's object-created events reach the completion function: the stack config's eventTransport."""

    NOTIFICATION = "notification"  # the bucket's own notification invokes it
    EVENTBRIDGE = "eventbridge"  # the bucket sends its events to the default bus, where a rule invokes it


class Status(enum.StrEnum):
    RECORDING = "recording"
    FINALIZING = "finalizing"
    READY = "ready"
    INCOMPLETE = "incomplete"


AUDIO_CONTENT_TYPE = Media.AUDIO.content_type
CAPTURE_MODES = tuple(CaptureMode)

# The frames grant signs the declared frame count as object metadata (x-amz-meta-frame-count): the object carries
# it, and the completion path checks the bundle's entry count against it.
FRAME_COUNT_METADATA = "frame-count"

DEFAULT_URL_EXPIRES_SECONDS = 300
DEFAULT_MAX_AUDIO_BYTES = 10 * 1024 * 1024
# A frames bundle: a ZIP of one window's frames, one entry per frame. A window is at most a minute of capture and no
# capture app records faster than 60 frames per second, so a window holds at most 60 x 60 frames; the bound keeps a
# declared count (signed into the object's metadata, carried by the ingest request) to what a window can really hold.
MAX_FRAMES_PER_WINDOW = 60 * 60
# 50 MiB: 3,600 frames of about 14 KiB (small JPEGs at the highest rate), or a frame a second of about 850 KiB. Like
# MAX_AUDIO_BYTES, well under S3's single-PUT limit, so a grant is one presigned PUT.
DEFAULT_MAX_FRAMES_BYTES = 50 * 1024 * 1024
MAX_URL_EXPIRES_SECONDS = 7 * 24 * 3600  # SigV4 presigned URLs cannot live longer
# Every request body the API takes is a JSON object of a few short fields, or a list of at most
# MAX_GRANTS_PER_REQUEST of them (about 5 KiB): a larger one is a 413 before anything parses it, and arrays or objects
# nested deeper than this are a 400 (nothing the API takes nests deeper than three levels).
MAX_REQUEST_BODY_BYTES = 16 * 1024
MAX_REQUEST_BODY_DEPTH = 32
# A batched grant (POST /sessions/{id}/grants) asks for at most this many halves: one request, one read of the
# session and of the windows it names (a BatchGetItem, at most 100 keys), and as many presigned URLs (about 1.5 KiB each).
MAX_GRANTS_PER_REQUEST = 32
# A claim to invoke ingest for a window expires after this long, so that a claimant that crashed or timed out
# cannot strand the window. It must exceed the timeout of every function that claims (the completion function, and
# the sweeper, which heals lost events through the completion path): a live claimant finishes first. And it stays
# below Lambda's first async retry delay (about one minute), so the retry can take the claim over.
DEFAULT_INGEST_CLAIM_LEASE_SECONDS = 45
# Every function's timeout, for the program and the local stack alike.
API_FUNCTION_TIMEOUT_SECONDS = 10  # a few DynamoDB calls and a local signature, well inside the HTTP API's 30 s
COMPLETION_FUNCTION_TIMEOUT_SECONDS = 30
INGEST_FUNCTION_TIMEOUT_SECONDS = 10
# Below the claim lease (see above). A run that has healed for this long stops; the next run goes on from there.
SWEEPER_FUNCTION_TIMEOUT_SECONDS = 40

# Environment variables: the first five keep the names the old system used.
ENV_BUCKET_NAME = "BUCKET_NAME"
ENV_SESSIONS_TABLE_NAME = "SESSIONS_TABLE_NAME"
ENV_INGEST_FUNCTION_NAME = "INGEST_FUNCTION_NAME"
ENV_URL_EXPIRES_SECONDS = "URL_EXPIRES_SECONDS"
ENV_MAX_AUDIO_BYTES = "MAX_AUDIO_BYTES"
ENV_MAX_FRAMES_BYTES = "MAX_FRAMES_BYTES"
ENV_INGEST_CLAIM_LEASE_SECONDS = "INGEST_CLAIM_LEASE_SECONDS"

# Powertools metrics namespace shared by every function of the stack.
METRICS_NAMESPACE = "SessionUploads"


class Metric(enum.StrEnum):
    """Every metric the handlers emit (Counts, in METRICS_NAMESPACE, by service); the stack alarms on some."""

    # The API
    SESSIONS_CREATED = "SessionsCreated"
    UPLOAD_GRANTS = "UploadGrants"
    PROCESSING_TRIGGER_FAILURES = "ProcessingTriggerFailures"
    # The completion function, one per window handled by its outcome, and its failures
    FOREIGN_KEYS_SKIPPED = "ForeignKeysSkipped"
    UNKNOWN_SESSIONS_SKIPPED = "UnknownSessionsSkipped"
    MISSING_OBJECTS_SKIPPED = "MissingObjectsSkipped"
    INVALID_UPLOADS = "InvalidUploads"
    WINDOWS_RECORDED = "WindowsRecorded"
    INGESTS_TRIGGERED = "IngestsTriggered"
    DUPLICATE_EVENTS = "DuplicateEvents"
    WINDOW_FAILURES = "WindowFailures"
    # The default ingest target
    INGEST_REQUESTS_RECORDED = "IngestRequestsRecorded"
    # The sweeper
    SESSIONS_MARKED_INCOMPLETE = "SessionsMarkedIncomplete"
    PROCESSING_TRIGGERS_RETRIED = "ProcessingTriggersRetried"
    SWEEP_FAILURES = "SweepFailures"
    WINDOWS_HEALED = "WindowsHealed"


# The sessions table's TTL attribute (epoch seconds): rows expire with their objects.
TTL_ATTRIBUTE = "expiresAt"
DEFAULT_RETENTION_DAYS = 30
ENV_RETENTION_DAYS = "RETENTION_DAYS"

# The sessions table: one header item per session and one item per window, under the session's partition.
TABLE_HASH_KEY = "sessionId"
TABLE_RANGE_KEY = "sk"

# Session completeness: a sparse index of the sessions the sweeper must look at (finalizing, or ready with the
# processing trigger not yet delivered). Its partition key holds one constant; its sort key is when finalizing began.
PENDING_INDEX_NAME = "pending-sessions"
PENDING_INDEX_HASH_KEY = "sweep"
PENDING_INDEX_RANGE_KEY = "finalizingAt"
PENDING_MARK = "pending"
DEFAULT_FINALIZING_TIMEOUT_SECONDS = 3600  # stack config: finalizingTimeoutMinutes
# The processing trigger: an EventBridge event (and optionally a Step Functions execution) per ready session.
PROCESSING_EVENT_SOURCE = "session-uploads"
PROCESSING_EVENT_DETAIL_TYPE = "SessionReady"
ENV_PROCESSING_EVENT_BUS_NAME = "PROCESSING_EVENT_BUS_NAME"
ENV_PROCESSING_STATE_MACHINE_ARN = "PROCESSING_STATE_MACHINE_ARN"
ENV_FINALIZING_TIMEOUT_SECONDS = "FINALIZING_TIMEOUT_SECONDS"
# The index carries the status too, so the sweeper finds ready sessions still owed a trigger without a table read.
PENDING_INDEX_PROJECTED_ATTRIBUTES = ("status",)
