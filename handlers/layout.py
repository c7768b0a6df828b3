"""The object key layout: the only place that formats or parses a key; everything else derives from it."""

from __future__ import annotations

import re
import uuid
from typing import NamedTuple

# Session objects live under one prefix and end with one suffix: the notification filter, the IAM resource
# ARNs and the lifecycle rule are all built from these two strings.
SESSIONS_PREFIX = "sessions/"
AUDIO_SUFFIX = "/audio.wav"
# Records written by the default ingest target: deliberately outside SESSIONS_PREFIX so that writing them
# can never trigger the completion notification.
INGEST_RECORDS_PREFIX = "ingest-requests/"

# A day of 60 s windows. The session item holds every window's entry in a few sets and maps, and DynamoDB refuses
# an item over 400 KB: tests/unit/test_item_size.py proves a full audio_video session of this many windows fits
# with room to spare (at ~3,000 windows it no longer does).
MAX_WINDOW_INDEX = 1439
_WINDOW_WIDTH = 3

_KEY_RE = re.compile(
    r"^sessions/(?P<session>[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})"
    r"/window_(?P<window>[0-9]{3,4})/audio\.wav$"
)


class WindowKey(NamedTuple):
    session_id: str
    window_index: int


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
    return f"window_{window_index:0{_WINDOW_WIDTH}d}"


def audio_key(session_id: str, window_index: int) -> str:
    """The key of one window's audio. Refuses what `parse_audio_key` would not give back."""
    if not is_session_id(session_id):
        raise ValueError(f"not a session id: {session_id!r}")
    if not is_window_index(window_index):
        raise ValueError(f"window index out of range 0..{MAX_WINDOW_INDEX}: {window_index!r}")
    return f"{SESSIONS_PREFIX}{session_id}/{window_dir(window_index)}{AUDIO_SUFFIX}"


def parse_audio_key(key: str) -> WindowKey | None:
    """The (session, window) of a key in the layout, or None for any other key (foreign, hostile, non-canonical)."""
    match = _KEY_RE.match(key)
    if match is None:
        return None
    digits = match["window"]
    window_index = int(digits)
    if window_dir(window_index) != f"window_{digits}":  # reject zero-padded aliases such as window_0007
        return None
    return WindowKey(match["session"], window_index)


def session_prefix(session_id: str) -> str:
    return f"{SESSIONS_PREFIX}{session_id}/"


def ingest_record_key(session_id: str, window_index: int, request_id: str) -> str:
    """One object per ingest invocation: retries of one invocation overwrite it, a second invocation adds one."""
    return f"{INGEST_RECORDS_PREFIX}{session_id}/{window_dir(window_index)}/{request_id}.json"


def objects_arn(bucket_arn: str, prefix: str) -> str:
    """The IAM resource ARN of every object under `prefix` in the bucket."""
    return f"{bucket_arn}/{prefix}*"
