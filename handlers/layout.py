"""The object key layout: the only place that formats or parses a key; everything else derives from it."""

from __future__ import annotations

import enum
import re
import uuid
from typing import NamedTuple

# Session objects live under one prefix and each half of a window ends with its own suffix: the notification
# filters, the EventBridge pattern, the IAM resource ARNs and the lifecycle rule are all built from these strings.
SESSIONS_PREFIX = "sessions/"
# Records written by the default ingest target: deliberately outside SESSIONS_PREFIX so that writing them
# can never trigger the completion notification.
INGEST_RECORDS_PREFIX = "ingest-requests/"
# Halves the completion path refused (not a WAV, a frames bundle of the wrong count) are moved here, outside
# SESSIONS_PREFIX so that the move never notifies, and expire with the session; the window can be uploaded again.
QUARANTINE_PREFIX = "quarantine/"

# A window per minute for more than ten weeks. One item per window (DESIGN.md, "Data model") keeps every item's
# size constant, so the limit is the key layout's five digits, not DynamoDB's item size.
MAX_WINDOW_INDEX = 99_999
_MIN_WIDTH = 3  # window_007: at least three digits, never padded beyond that


class Media(enum.StrEnum):
    """The halves of a window: its audio, and for audio_video sessions a ZIP bundle of its frames."""

    AUDIO = "audio"
    FRAMES = "frames"

    @property
    def suffix(self) -> str:
        return _SUFFIXES[self]

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES[self]


_SUFFIXES = {Media.AUDIO: "/audio.wav", Media.FRAMES: "/frames.zip"}
_CONTENT_TYPES = {Media.AUDIO: "audio/wav", Media.FRAMES: "application/zip"}
AUDIO_SUFFIX = Media.AUDIO.suffix
FRAMES_SUFFIX = Media.FRAMES.suffix

_KEY_RE = re.compile(
    r"^sessions/(?P<session>[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})"
    r"/window_(?P<window>[0-9]{3,5})/(?P<name>audio\.wav|frames\.zip)$"
)
_MEDIA_BY_NAME = {suffix[1:]: media for media, suffix in _SUFFIXES.items()}


class ObjectKey(NamedTuple):
    session_id: str
    window_index: int
    media: Media


def is_session_id(value: object) -> bool:
    """True for the canonical (lowercase, hyphenated) form of a version-4 UUID, the only form we mint."""
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value and uuid.UUID(value).version == 4
    except ValueError:
        return False


def is_window_index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_WINDOW_INDEX


def window_dir(window_index: int) -> str:
    return f"window_{window_index:0{_MIN_WIDTH}d}"


def object_key(session_id: str, window_index: int, media: Media) -> str:
    """The key of one half of a window. Refuses what `parse_key` would not give back."""
    if not is_session_id(session_id):
        raise ValueError(f"not a session id: {session_id!r}")
    if not is_window_index(window_index):
        raise ValueError(f"window index out of range 0..{MAX_WINDOW_INDEX}: {window_index!r}")
    return f"{SESSIONS_PREFIX}{session_id}/{window_dir(window_index)}{Media(media).suffix}"


def audio_key(session_id: str, window_index: int) -> str:
    return object_key(session_id, window_index, Media.AUDIO)


def frames_key(session_id: str, window_index: int) -> str:
    return object_key(session_id, window_index, Media.FRAMES)


def parse_key(key: str) -> ObjectKey | None:
    """The (session, window, half) of a key in the layout, or None for any other key (foreign, hostile,
    non-canonical)."""
    match = _KEY_RE.match(key)
    if match is None:
        return None
    digits = match["window"]
    window_index = int(digits)
    if window_dir(window_index) != f"window_{digits}":  # reject zero-padded aliases such as window_0007
        return None
    return ObjectKey(match["session"], window_index, _MEDIA_BY_NAME[match["name"]])


def quarantine_key(key: str, tag: str) -> str:
    """Where a refused object of the layout goes: its key under QUARANTINE_PREFIX, tagged (by its ETag) so that a
    second refused upload of the same half is kept beside the first."""
    parsed = parse_key(key)
    if parsed is None:
        raise ValueError(f"not a key of the layout: {key!r}")
    safe_tag = "".join(c for c in tag if c.isalnum())[:64] or "untagged"
    return f"{QUARANTINE_PREFIX}{key[len(SESSIONS_PREFIX):]}.{safe_tag}"


def session_prefix(session_id: str) -> str:
    return f"{SESSIONS_PREFIX}{session_id}/"


def ingest_records_prefix(session_id: str) -> str:
    """Where the default ingest target records a session's ingest requests."""
    return f"{INGEST_RECORDS_PREFIX}{session_id}/"


def ingest_record_key(session_id: str, window_index: int, request_id: str) -> str:
    """One object per ingest invocation: retries of one invocation overwrite it, a second invocation adds one."""
    return f"{ingest_records_prefix(session_id)}{window_dir(window_index)}/{request_id}.json"


def ingest_record_window(session_id: str, key: str) -> int | None:
    """The window of one of the session's ingest records (`ingest_record_key`), or None for any other key."""
    prefix = ingest_records_prefix(session_id)
    directory, slash, name = key.removeprefix(prefix).partition("/")
    digits = directory.removeprefix("window_")
    if not (key.startswith(prefix) and slash and name.endswith(".json") and "/" not in name and digits.isdigit()
            and digits.isascii()):
        return None
    window_index = int(digits)
    return window_index if window_dir(window_index) == directory and is_window_index(window_index) else None


def object_filters() -> list[tuple[str, str]]:
    """(prefix, suffix) of each half's keys, one pair per Media: the S3 notification's filters (one configuration per
    pair) and the EventBridge rule's key wildcards are built from these."""
    return [(SESSIONS_PREFIX, media.suffix) for media in Media]


def objects_arn(bucket_arn: str, prefix: str) -> str:
    """The IAM resource ARN of every object under `prefix` in the bucket."""
    return f"{bucket_arn}/{prefix}*"
