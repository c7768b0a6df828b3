"""The sessions table in DynamoDB: items parsed into entities once, here, and every write conditional.

Layout (DESIGN.md, "Data model"): partition key `sessionId`; sort key `sk`, `session` for the header and
`window#NNNNN` for each window (five digits, so the items sort in window order and a range of windows is one Query).
The header holds the state and two counters; a window's item holds its halves, its ingest claim (a lease) and
whether ingest was triggered. No item grows with the session.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from handlers import contract, layout
from handlers.contract import CaptureMode, Status
from handlers.domain.entities import AudioFormat, Half, Session, Window
from handlers.domain.ports import StaleRead

HEADER_SK = "session"
_WINDOW_SK_PREFIX = "window#"
_WINDOW_DIGITS = len(str(layout.MAX_WINDOW_INDEX))
PENDING_HASH = contract.PENDING_INDEX_HASH_KEY
PENDING_RANGE = contract.PENDING_INDEX_RANGE_KEY
_PAGE = 1000  # window items per Query page: about 200 KB, well inside DynamoDB's 1 MB page


def window_sk(window_index: int) -> str:
    return f"{_WINDOW_SK_PREFIX}{window_index:0{_WINDOW_DIGITS}d}"


def _conditional_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _canceled(error: ClientError) -> bool:
    """A transaction refused as a whole: a condition failed, or it collided with another transaction."""
    return error.response.get("Error", {}).get("Code") == "TransactionCanceledException"


def _number(value: float) -> Decimal:
    return Decimal(str(value))


# --- items <-> entities ---------------------------------------------------------------------------------------


def session_item(session: Session) -> dict[str, Any]:
    return {
        contract.TABLE_HASH_KEY: session.session_id,
        contract.TABLE_RANGE_KEY: HEADER_SK,
        "userId": session.user_id,
        "captureMode": str(session.capture_mode),
        "status": str(session.status),
        "createdAt": session.created_at,
        contract.TTL_ATTRIBUTE: session.expires_at,
        "recordedCount": session.recorded_count,
        "unexpectedCount": session.unexpected_count,
    }


def session_from_item(item: dict[str, Any]) -> Session:
    expected = item.get("expectedWindowCount")
    return Session(
        session_id=item[contract.TABLE_HASH_KEY],
        user_id=item["userId"],
        capture_mode=CaptureMode(item["captureMode"]),
        status=Status(item["status"]),
        created_at=item["createdAt"],
        expires_at=int(item[contract.TTL_ATTRIBUTE]),
        expected_window_count=int(expected) if expected is not None else None,
        recorded_count=int(item.get("recordedCount", 0)),
        unexpected_count=int(item.get("unexpectedCount", 0)),
        processing_triggered="processingTriggeredAt" in item,
    )


def _half_attributes(half: Half) -> dict[str, Any]:
    attributes: dict[str, Any] = {"sizeBytes": half.size_bytes, "etag": half.etag, "recordedAt": half.recorded_at}
    if half.checksum_sha256 is not None:
        attributes["checksumSha256"] = half.checksum_sha256
    if half.frame_count is not None:
        attributes["frameCount"] = half.frame_count
    if half.wav is not None:
        attributes["wav"] = {
            "sampleRate": half.wav.sample_rate,
            "channels": half.wav.channels,
            "bitsPerSample": half.wav.bits_per_sample,
            "durationSeconds": _number(half.wav.duration_seconds),
        }
    return attributes


def _half_from(media: layout.Media, attributes: dict[str, Any]) -> Half:
    wav = attributes.get("wav")
    return Half(
        media=media,
        size_bytes=int(attributes["sizeBytes"]),
        etag=attributes["etag"],
        recorded_at=attributes["recordedAt"],
        checksum_sha256=attributes.get("checksumSha256"),
        frame_count=int(attributes["frameCount"]) if "frameCount" in attributes else None,
        wav=AudioFormat(
            sample_rate=int(wav["sampleRate"]),
            channels=int(wav["channels"]),
            bits_per_sample=int(wav["bitsPerSample"]),
            duration_seconds=float(wav["durationSeconds"]),
        )
        if wav
        else None,
    )


def window_from_item(item: dict[str, Any]) -> Window:
    claim = item.get("claim")
    return Window(
        session_id=item[contract.TABLE_HASH_KEY],
        index=int(item["windowIndex"]),
        halves={media: _half_from(media, item[media.value]) for media in layout.Media if media.value in item},
        recorded="recordedAt" in item,
        ingested="ingestedAt" in item,
        claim_token=claim["token"] if claim else None,
        invalid=item.get("invalid"),
        invalid_half=layout.Media(item["invalidHalf"]) if "invalidHalf" in item else None,
        stored=True,
    )


# --- the repository -------------------------------------------------------------------------------------------


class SessionsTable:
    """handlers.domain.ports.SessionRepository on a boto3 DynamoDB Table resource.

    `clock` returns epoch seconds; `lease_seconds` is how long a claim (a window's ingest, a session's processing
    trigger) holds before another invocation may take it over.
    """

    def __init__(self, table: Any, clock: Callable[[], float], lease_seconds: int):
        self._table = table
        self._clock = clock
        self._lease_seconds = lease_seconds

    def now(self) -> float:
        return self._clock()

    def _header_key(self, session_id: str) -> dict[str, str]:
        return {contract.TABLE_HASH_KEY: session_id, contract.TABLE_RANGE_KEY: HEADER_SK}

    def _window_key(self, session_id: str, window_index: int) -> dict[str, str]:
        return {contract.TABLE_HASH_KEY: session_id, contract.TABLE_RANGE_KEY: window_sk(window_index)}

    def _update(self, key: dict[str, str], **kwargs: Any) -> dict | None:
        """UpdateItem; None when its condition failed, every other error raised."""
        return self._conditional("Update", {"Key": key, **kwargs})

    def _conditional(self, operation: str, write: dict[str, Any]) -> dict | None:
        """One PutItem or UpdateItem; its response, or None when its condition failed, every other error raised."""
        try:
            return (self._table.put_item if operation == "Put" else self._table.update_item)(**write)
        except ClientError as error:
            if _conditional_failed(error):
                return None
            raise

    # --- sessions ---------------------------------------------------------------------------------------------

    def create(self, session: Session) -> None:
        self._table.put_item(Item=session_item(session), ConditionExpression="attribute_not_exists(sessionId)")

    def get(self, session_id: str) -> Session | None:
        item = self._table.get_item(Key=self._header_key(session_id), ConsistentRead=True).get("Item")
        return session_from_item(item) if item else None

    def finalize(self, session: Session, expected: int) -> Session:
        """recording -> finalizing. The header learns how many recorded windows lie at or above the expected count
        (read once, here; later windows count themselves), conditional on no window recorded since `session`."""
        response = self._update(
            self._header_key(session.session_id),
            UpdateExpression=(
                "SET #status = :finalizing, expectedWindowCount = :n, unexpectedCount = :unexpected, "
                "#since = :now, #sweep = :pending"
            ),
            ConditionExpression="#status = :recording AND recordedCount = :recorded",
            ExpressionAttributeNames={"#status": "status", "#since": PENDING_RANGE, "#sweep": PENDING_HASH},
            ExpressionAttributeValues={
                ":finalizing": str(Status.FINALIZING),
                ":recording": str(Status.RECORDING),
                ":n": expected,
                ":unexpected": self._count_recorded_from(session.session_id, expected),
                ":recorded": session.recorded_count,
                ":now": _number(self.now()),
                ":pending": contract.PENDING_MARK,
            },
            ReturnValues="ALL_NEW",
        )
        if response is None:
            raise StaleRead(f"session {session.session_id} changed while finalizing")
        return session_from_item(response["Attributes"])

    def _count_recorded_from(self, session_id: str, start: int) -> int:
        if start > layout.MAX_WINDOW_INDEX:
            return 0
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key(contract.TABLE_HASH_KEY).eq(session_id)
            & Key(contract.TABLE_RANGE_KEY).between(window_sk(start), window_sk(layout.MAX_WINDOW_INDEX)),
            "FilterExpression": "attribute_exists(recordedAt)",
            "Select": "COUNT",
            "ConsistentRead": True,
        }
        count = 0
        while True:
            page = self._table.query(**kwargs)
            count += page["Count"]
            if "LastEvaluatedKey" not in page:
                return count
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def mark_ready(self, session_id: str) -> bool:
        """finalizing -> ready, exactly once: of concurrent callers only one gets True."""
        return self._leave_finalizing(
            session_id, "SET #status = :ready, readyAt = :now", {":ready": str(Status.READY)}
        )

    def mark_incomplete(self, seen: Session) -> bool:
        """finalizing -> incomplete and off the sweeper's index, unless a window was recorded since `seen`: a late
        window wins over the sweeper."""
        return self._leave_finalizing(
            seen.session_id,
            "SET #status = :incomplete, incompleteAt = :now, missingCount = :missing REMOVE #sweep",
            {":incomplete": str(Status.INCOMPLETE), ":missing": seen.missing_count, ":recorded": seen.recorded_count},
            extra_condition=" AND recordedCount = :recorded",
        )

    def _leave_finalizing(self, session_id: str, update: str, values: dict, extra_condition: str = "") -> bool:
        names = {"#status": "status", **({"#sweep": PENDING_HASH} if "#sweep" in update else {})}
        response = self._update(
            self._header_key(session_id),
            UpdateExpression=update,
            ConditionExpression="#status = :finalizing" + extra_condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={":finalizing": str(Status.FINALIZING), ":now": _number(self.now()), **values},
        )
        return response is not None

    def _claim(self, key: dict[str, str], attribute: str, not_done: str, names: dict, values: dict) -> str | None:
        """Write a lease at `attribute` if nothing is done yet and no live lease holds it; its token, or None."""
        now = self.now()
        token = uuid.uuid4().hex
        claimed = self._update(
            key,
            UpdateExpression=f"SET {attribute} = :claim",
            ConditionExpression=(
                f"{not_done} AND (attribute_not_exists({attribute}) OR {attribute}.#until < :now)"
            ),
            ExpressionAttributeNames={**names, "#until": "until"},
            ExpressionAttributeValues={**values, ":now": _number(now), ":claim": self._lease(now, token)},
        )
        return token if claimed is not None else None

    def _lease(self, now: float, token: str) -> dict[str, Any]:
        return {"until": _number(now + self._lease_seconds), "token": token}

    def claim_processing(self, session_id: str) -> str | None:
        """The right to deliver a ready session's processing trigger: a token, or None if delivered or held."""
        return self._claim(
            self._header_key(session_id),
            "processingClaim",
            "#status = :ready AND attribute_not_exists(processingTriggeredAt)",
            {"#status": "status"},
            {":ready": str(Status.READY)},
        )

    def confirm_processing(self, session_id: str) -> None:
        """Delivered: the session leaves the sweeper's index for good."""
        self._table.update_item(
            Key=self._header_key(session_id),
            UpdateExpression="SET processingTriggeredAt = :now REMOVE processingClaim, #sweep",
            ExpressionAttributeNames={"#sweep": PENDING_HASH},
            ExpressionAttributeValues={":now": _number(self.now())},
        )

    def release_processing(self, session_id: str, token: str) -> None:
        self._update(
            self._header_key(session_id),
            UpdateExpression="REMOVE processingClaim",
            ConditionExpression="processingClaim.#token = :token",
            ExpressionAttributeNames={"#token": "token"},
            ExpressionAttributeValues={":token": token},
        )

    def pending(self, finalizing_before: float) -> Iterator[str]:
        """Sessions on the sweeper's index: finalizing since before the cutoff, or ready but not yet triggered."""
        kwargs: dict[str, Any] = {
            "IndexName": contract.PENDING_INDEX_NAME,
            "KeyConditionExpression": Key(PENDING_HASH).eq(contract.PENDING_MARK),
        }
        while True:
            page = self._table.query(**kwargs)
            for item in page.get("Items", []):
                if item.get("status") == Status.READY or float(item[PENDING_RANGE]) < finalizing_before:
                    yield item[contract.TABLE_HASH_KEY]
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # --- windows ----------------------------------------------------------------------------------------------

    def get_with_window(self, session_id: str, window_index: int) -> tuple[Session | None, Window | None]:
        """The header and one window's item in one round trip (both read consistently)."""
        session, windows = self.get_with_windows(session_id, [window_index])
        return session, windows.get(window_index)

    def get_with_windows(
        self, session_id: str, window_indexes: Sequence[int]
    ) -> tuple[Session | None, dict[int, Window]]:
        """The header and these windows' items in one BatchGetItem (all read consistently), for up to 99 windows."""
        keys = [self._header_key(session_id), *(self._window_key(session_id, i) for i in dict.fromkeys(window_indexes))]
        request = {self._table.name: {"Keys": keys, "ConsistentRead": True}}
        found: list[dict[str, Any]] = []
        while request:
            response = self._table.meta.client.batch_get_item(RequestItems=request)
            found += response["Responses"].get(self._table.name, [])
            request = response.get("UnprocessedKeys") or {}
        header = next((item for item in found if item[contract.TABLE_RANGE_KEY] == HEADER_SK), None)
        windows = (window_from_item(item) for item in found if item[contract.TABLE_RANGE_KEY] != HEADER_SK)
        return (session_from_item(header) if header else None, {window.index: window for window in windows})

    def get_window(self, session_id: str, window_index: int) -> Window | None:
        item = self._table.get_item(Key=self._window_key(session_id, window_index), ConsistentRead=True).get("Item")
        return window_from_item(item) if item else None

    def windows(self, session_id: str, start: int = 0, limit: int | None = None) -> Iterator[Window]:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key(contract.TABLE_HASH_KEY).eq(session_id)
            & Key(contract.TABLE_RANGE_KEY).between(window_sk(start), window_sk(layout.MAX_WINDOW_INDEX)),
            "ConsistentRead": True,
        }
        remaining = limit
        while remaining is None or remaining > 0:
            kwargs["Limit"] = _PAGE if remaining is None else min(_PAGE, remaining)
            page = self._table.query(**kwargs)
            for item in page.get("Items", []):
                yield window_from_item(item)
            if remaining is not None:
                remaining -= len(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def record_half(self, session: Session, seen: Window, half: Half) -> str | None:
        """Add `half` to the window as it was `seen`; StaleRead if the window or the header changed since.

        The conditions pin exactly what the caller decided on: the window's item absent (the first half creates it
        whole, with a PutItem), or this half absent and each other half as seen, and, when the half completes the
        window, the header's expected count as seen (so the window counts as unexpected or not by the count it is
        judged against). Completing the window moves three things in one transaction: the window becomes recorded,
        its ingest claim is taken (the lease), and the header's counters move by one. Two producers of the window's
        halves cannot both complete it: the second one's pin fails.
        """
        attributes: dict[str, Any] = {
            half.media.value: _half_attributes(half),
            "windowIndex": seen.index,
            contract.TTL_ATTRIBUTE: session.expires_at,
        }
        completes = seen.completed_by(half, session.capture_mode)
        token = uuid.uuid4().hex if completes else None
        if completes:
            now = self.now()
            attributes |= {"recordedAt": _number(now), "claim": self._lease(now, token)}
        key = self._window_key(seen.session_id, seen.index)
        if seen.stored:
            operation, write = "Update", self._add_half(key, seen, half, attributes)
        else:  # a new window's item is written whole: for DynamoDB the same write, for moto half the work
            write = {
                "Item": {**key, **attributes},
                "ConditionExpression": "attribute_not_exists(#key)",
                "ExpressionAttributeNames": {"#key": contract.TABLE_HASH_KEY},
            }
            operation = "Put"
        if not completes:
            # The header was read just before: an event for a session that does not exist never gets here.
            if self._conditional(operation, write) is None:
                raise StaleRead(f"window {seen.index} of {seen.session_id} changed")
            return None
        self._transact([(operation, write), ("Update", self._count_recorded(session, seen.index))], seen)
        return token

    @staticmethod
    def _add_half(key: dict[str, str], seen: Window, half: Half, attributes: dict[str, Any]) -> dict[str, Any]:
        """The update adding `half` (and `attributes`) to the stored window, pinned to its other halves as seen."""
        names = {f"#{name}": name for name in attributes} | {f"#{media.value}": media.value for media in layout.Media}
        conditions = [f"attribute_not_exists(#{half.media.value})"]
        for media in layout.Media:
            if media is not half.media:
                state = "attribute_exists" if seen.has(media) else "attribute_not_exists"
                conditions.append(f"{state}(#{media.value})")
        update = "SET " + ", ".join(f"#{name} = :{name}" for name in attributes)
        if seen.invalid_half is half.media:  # a valid upload replaces the refused one
            update += " REMOVE invalid, invalidHalf"
        return {
            "Key": key,
            "UpdateExpression": update,
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {f":{name}": value for name, value in attributes.items()},
        }

    def _count_recorded(self, session: Session, window_index: int) -> dict[str, Any]:
        unexpected = session.is_unexpected(window_index)
        if session.expected_window_count is None:
            pin, values = "attribute_not_exists(expectedWindowCount)", {}
        else:
            pin, values = "expectedWindowCount = :expected", {":expected": session.expected_window_count}
        return {
            "Key": self._header_key(session.session_id),
            "UpdateExpression": "ADD recordedCount :one" + (", unexpectedCount :one" if unexpected else ""),
            "ConditionExpression": f"attribute_exists(sessionId) AND {pin}",
            "ExpressionAttributeValues": {":one": 1, **values},
        }

    def _transact(self, writes: list[tuple[str, dict[str, Any]]], seen: Window) -> None:
        # The resource's own client: it serializes Python values as the Table's methods do.
        client = self._table.meta.client
        items = [{operation: {"TableName": self._table.name, **write}} for operation, write in writes]
        try:
            client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if _canceled(error):
                raise StaleRead(f"window {seen.index} of {seen.session_id} or its session changed") from error
            raise

    def record_invalid(self, session: Session, seen: Window, media: layout.Media, reason: str) -> None:
        """The window's `media` half was refused: say why, until a valid upload of it replaces the reason. Conditional
        on that half not recorded (a valid one wins). No counter moves: the window is not recorded."""
        response = self._update(
            self._window_key(seen.session_id, seen.index),
            UpdateExpression="SET invalid = :reason, invalidHalf = :media, windowIndex = :index, #ttl = :ttl",
            ConditionExpression="attribute_not_exists(#half)",
            ExpressionAttributeNames={"#half": media.value, "#ttl": contract.TTL_ATTRIBUTE},
            ExpressionAttributeValues={
                ":reason": f"{media.value}: {reason}",
                ":media": media.value,
                ":index": seen.index,
                ":ttl": session.expires_at,
            },
        )
        if response is None:
            raise StaleRead(f"window {seen.index} of {seen.session_id}: its {media} was recorded meanwhile")

    def claim_ingest(self, session_id: str, window_index: int) -> str | None:
        """Take over the ingest claim of a recorded window that is not triggered and whose lease has expired.

        The first claim is taken by the write that records the window; this one is for the redelivered event of a
        claimant that crashed or whose invoke failed.
        """
        return self._claim(
            self._window_key(session_id, window_index),
            "claim",
            "attribute_exists(recordedAt) AND attribute_not_exists(ingestedAt)",
            {},
            {},
        )

    def confirm_ingest(self, session_id: str, window_index: int) -> None:
        """The invoke was accepted: the window is triggered for good and its claim is no longer needed."""
        self._update(
            self._window_key(session_id, window_index),
            UpdateExpression="SET ingestedAt = :now REMOVE claim",
            ConditionExpression="attribute_exists(recordedAt) AND attribute_not_exists(ingestedAt)",
            ExpressionAttributeValues={":now": _number(self.now())},
        )

    def release_ingest(self, session_id: str, window_index: int, token: str) -> None:
        """Roll back our own claim after a failed invoke, so the retry can claim at once; never someone else's."""
        self._update(
            self._window_key(session_id, window_index),
            UpdateExpression="REMOVE claim",
            ConditionExpression="claim.#token = :token",
            ExpressionAttributeNames={"#token": "token"},
            ExpressionAttributeValues={":token": token},
        )

