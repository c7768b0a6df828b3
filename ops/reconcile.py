"""`reconcile`: the bucket against the table, for one session or every session created since a date.

For each session it lists the objects under the session's prefix and reads its window items, then replays through the
deployed completion function (Invoke, RequestResponse, a synthetic S3 "ObjectCreated:Put" notification of one object)
every object whose half the table never recorded, and one object of each window recorded but never ingested (the
completion path finishes what a duplicate finds owed). The function does what it does for any event: validates,
records, ingests exactly once; so a reconcile run twice, or beside the sweeper's heal or a redrive, changes nothing
more. Recorded halves whose object is gone are reported, never changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from handlers import layout
from handlers.dal.sessions_table import session_from_item
from handlers.domain.entities import Ranges
from ops import sessions
from ops.stack import Stack
from ops.target import COMPLETION


def notification(bucket: str, region: str, key: str, size: int, etag: str) -> dict[str, Any]:
    """An S3 event notification of one created object, as S3 invokes a function directly (the key URL-encoded)."""
    return {"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "session-uploads-ops"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "session-uploads-ops-reconcile",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": quote_plus(key), "size": size, "eTag": etag},
        },
    }]}


@dataclass
class SessionReconcile:
    session_id: str
    status_before: str
    status_after: str | None = None
    objects: int = 0
    recorded_halves: int = 0
    unrecorded: list[str] = field(default_factory=list)  # keys whose half the table never recorded
    ingest_owed: list[int] = field(default_factory=list)  # windows recorded, never ingested
    gone: list[list[int]] = field(default_factory=list)  # windows with a recorded half whose object is not listed
    replayed: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)

    @property
    def to_replay(self) -> int:
        return len(self.unrecorded) + len(self.ingest_owed)

    def as_dict(self) -> dict[str, Any]:
        return {"sessionId": self.session_id, "statusBefore": self.status_before, "statusAfter": self.status_after,
                "objects": self.objects, "recordedHalves": self.recorded_halves, "unrecorded": self.unrecorded,
                "ingestOwed": Ranges.of(self.ingest_owed), "recordedButGone": self.gone,
                "replayed": self.replayed, "failed": self.failed}


def reconcile_session(stack: Stack, session_id: str, *, dry_run: bool,
                      on_object: Callable[[], None] = lambda: None) -> SessionReconcile:
    item = sessions.header(stack, session_id)
    session = session_from_item(item)
    result = SessionReconcile(session_id, str(session.status))
    recorded: set[tuple[int, layout.Media]] = set()
    owed: set[int] = set()
    for window in stack.sessions.windows(session_id):
        recorded.update((window.index, media) for media in window.halves)
        if window.recorded and not window.ingested:
            owed.add(window.index)
    result.recorded_halves = len(recorded)
    listed: set[tuple[int, layout.Media]] = set()
    replay: list[tuple[str, int, str]] = []
    for obj in stack.objects(layout.session_prefix(session_id)):
        on_object()
        result.objects += 1
        parsed = layout.parse_key(obj.key)
        if parsed is None or parsed.session_id != session_id:
            continue  # not a key of the layout: the completion path would ignore it too
        half = (parsed.window_index, parsed.media)
        listed.add(half)
        if half not in recorded:
            result.unrecorded.append(obj.key)
            replay.append((obj.key, obj.size, obj.etag))
        elif parsed.window_index in owed:
            owed.discard(parsed.window_index)  # one object of the window is enough
            result.ingest_owed.append(parsed.window_index)
            replay.append((obj.key, obj.size, obj.etag))
    result.ingest_owed.sort()
    result.gone = Ranges.of({window for window, _ in recorded - listed})
    if not dry_run:
        for key, size, etag in replay:
            outcome = stack.invoke(COMPLETION, notification(stack.target.bucket, stack.target.region, key, size, etag))
            if outcome.ok:
                result.replayed.append(key)
            else:
                result.failed.append({"key": key, "error": outcome.error or ""})
    if replay and not dry_run:
        result.status_after = str(session_from_item(sessions.header(stack, session_id)).status)
    else:
        result.status_after = result.status_before
    return result


def reconcile(stack: Stack, session_ids: Iterable[str], *, dry_run: bool,
              progress: Any = None) -> list[SessionReconcile]:
    ids = list(session_ids)
    results = []
    if progress is not None:
        progress.start(len(ids))
    for session_id in ids:
        results.append(reconcile_session(
            stack, session_id, dry_run=dry_run, on_object=progress.object if progress else lambda: None
        ))
        if progress is not None:
            progress.session_done(results[-1].to_replay)
    return results
