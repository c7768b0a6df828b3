"""`session show` and `sessions list`: any user's session as the table holds it, and sessions by status.

Listing by status reads the sweeper's sparse index for `finalizing` (the index holds exactly the finalizing sessions,
and the ready ones still owed their trigger): a Query whose cost grows with those sessions only. The other statuses
are not indexed: they are a paged Scan of the table with a filter, which reads (and is billed for) every item; an
operator tool can afford it, a request path could not.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from handlers import contract, layout
from handlers.contract import Status
from handlers.dal.sessions_table import HEADER_SK, session_from_item
from handlers.domain.sessions import status_body, window_body
from ops.errors import OpsError
from ops.stack import Stack

# The attribute that says since when a session has had its status (epoch seconds; createdAt is ISO 8601).
STATUS_SINCE = {
    Status.FINALIZING: contract.PENDING_INDEX_RANGE_KEY,
    Status.READY: "readyAt",
    Status.INCOMPLETE: "incompleteAt",
}
_TIMESTAMPS = ("finalizingAt", "readyAt", "incompleteAt", "processingTriggeredAt")
_BATCH_GET_LIMIT = 100  # DynamoDB's


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(float(epoch), tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals as ints or floats, for JSON."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == int(value) else float(value)
    return value


def header(stack: Stack, session_id: str) -> dict[str, Any]:
    """The session's header item, read consistently; OpsError when there is none."""
    if not layout.is_session_id(session_id):
        raise OpsError(f"session {session_id}: not a session id")
    item = stack.table.get_item(
        Key={contract.TABLE_HASH_KEY: session_id, contract.TABLE_RANGE_KEY: HEADER_SK}, ConsistentRead=True
    ).get("Item")
    if item is None:
        raise OpsError(f"session {session_id}: not found in table {stack.target.table}")
    return item


def describe_header(item: dict[str, Any]) -> dict[str, Any]:
    """What the header says beyond the API's status body: the owner, since when, the trigger, the expiry."""
    described = {
        "userId": item["userId"],
        "expiresAt": iso(item[contract.TTL_ATTRIBUTE]),
        "processingTriggered": "processingTriggeredAt" in item,
        "processingClaimHeld": "processingClaim" in item,
        "onSweeperIndex": contract.PENDING_INDEX_HASH_KEY in item,
        "recordedCount": int(item.get("recordedCount", 0)),
        "unexpectedCount": int(item.get("unexpectedCount", 0)),
    }
    for name in _TIMESTAMPS:
        if name in item:
            described[name] = iso(item[name])
    return described


def show(stack: Stack, session_id: str, *, windows: bool) -> dict[str, Any]:
    """The session's header, its status body (counts and ranges, one paged pass over its windows), and on request
    every window's detail."""
    item = header(stack, session_id)
    session = session_from_item(item)
    shown: dict[str, Any] = {
        "status": status_body(session, stack.sessions.windows(session_id)),
        "header": describe_header(item),
    }
    if windows:
        shown["windows"] = [window_body(window) for window in stack.sessions.windows(session_id)]
    return _plain(shown)


def _row(item: dict[str, Any], status: Status) -> dict[str, Any]:
    since = item.get(STATUS_SINCE[status]) if status in STATUS_SINCE else None
    return _plain({
        "sessionId": item[contract.TABLE_HASH_KEY],
        "userId": item.get("userId"),
        "status": item.get("status"),
        "captureMode": item.get("captureMode"),
        "createdAt": item.get("createdAt"),
        "since": iso(since) if since is not None else item.get("createdAt"),
        "expectedWindowCount": item.get("expectedWindowCount"),
        "recordedCount": item.get("recordedCount", 0),
    })


def by_status(stack: Stack, status: Status, older_than_seconds: float | None, now: float) -> Iterator[dict[str, Any]]:
    """Sessions with `status`, in it for longer than `older_than_seconds` when given; paged, as found."""
    cutoff = now - older_than_seconds if older_than_seconds is not None else None
    if status is Status.FINALIZING:
        yield from _finalizing(stack, cutoff)
        return
    condition = Attr(contract.TABLE_RANGE_KEY).eq(HEADER_SK) & Attr("status").eq(str(status))
    if cutoff is not None:
        since = STATUS_SINCE.get(status)
        condition &= Attr(since).lt(_number(cutoff)) if since else Attr("createdAt").lt(iso(cutoff))
    for item in _scan(stack, condition):
        yield _row(item, status)


def created_since(stack: Stack, since_iso: str) -> Iterator[str]:
    """Ids of sessions created at or after `since_iso` (createdAt is ISO 8601 in UTC, so strings compare as times):
    a paged Scan, since no index is keyed on creation time."""
    condition = Attr(contract.TABLE_RANGE_KEY).eq(HEADER_SK) & Attr("createdAt").gte(since_iso)
    for item in _scan(stack, condition, projection=contract.TABLE_HASH_KEY):
        yield item[contract.TABLE_HASH_KEY]


def _scan(stack: Stack, condition: Any, projection: str | None = None) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {"FilterExpression": condition}
    if projection:
        kwargs["ProjectionExpression"] = projection
    while True:
        page = stack.table.scan(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _finalizing(stack: Stack, cutoff: float | None) -> Iterator[dict[str, Any]]:
    """The sparse index, then the headers of each page (the index projects the status alone)."""
    key = Key(contract.PENDING_INDEX_HASH_KEY).eq(contract.PENDING_MARK)
    if cutoff is not None:
        key &= Key(contract.PENDING_INDEX_RANGE_KEY).lt(_number(cutoff))
    kwargs: dict[str, Any] = {
        "IndexName": contract.PENDING_INDEX_NAME,
        "KeyConditionExpression": key,
        "FilterExpression": Attr("status").eq(str(Status.FINALIZING)),
    }
    while True:
        page = stack.table.query(**kwargs)
        ids = [item[contract.TABLE_HASH_KEY] for item in page.get("Items", [])]
        for start in range(0, len(ids), _BATCH_GET_LIMIT):
            headers = _headers(stack, ids[start:start + _BATCH_GET_LIMIT])
            for session_id in ids[start:start + _BATCH_GET_LIMIT]:
                item = headers.get(session_id)
                if item is not None and item.get("status") == Status.FINALIZING:  # the index lags the table
                    yield _row(item, Status.FINALIZING)
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _headers(stack: Stack, session_ids: list[str]) -> dict[str, dict[str, Any]]:
    keys = [{contract.TABLE_HASH_KEY: sid, contract.TABLE_RANGE_KEY: HEADER_SK} for sid in session_ids]
    request = {stack.target.table: {"Keys": keys, "ConsistentRead": True}}
    found: dict[str, dict[str, Any]] = {}
    while request:
        response = stack.table.meta.client.batch_get_item(RequestItems=request)
        for item in response["Responses"].get(stack.target.table, []):
            found[item[contract.TABLE_HASH_KEY]] = item
        request = response.get("UnprocessedKeys") or {}
    return found


def _number(value: float) -> Decimal:
    return Decimal(str(value))
