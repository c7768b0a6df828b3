"""Every read and write of the sessions table, each write conditional so that races resolve in DynamoDB."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from handlers import contract

Item = dict[str, Any]
PENDING_HASH = contract.PENDING_INDEX_HASH_KEY
PENDING_RANGE = contract.PENDING_INDEX_RANGE_KEY


def _conditional_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def window_numbers(item: Mapping[str, Any], attribute: str) -> list[int]:
    """A number set as a sorted list of ints; an absent set is empty (DynamoDB sets cannot be empty)."""
    return sorted(int(n) for n in item.get(attribute, ()))


class ClaimOutcome(enum.Enum):
    CLAIMED = "claimed"
    ALREADY_TRIGGERED = "already_triggered"
    IN_FLIGHT = "in_flight"
    NO_SESSION = "no_session"


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    token: str | None = None


class SessionStore:
    """The sessions table. `table` is a boto3 DynamoDB Table resource; `clock` returns epoch seconds."""

    def __init__(self, table: Any, clock: Callable[[], float]):
        self._table = table
        self._clock = clock

    def now(self) -> float:
        return self._clock()

    def _conditional_update(self, session_id: str, **kwargs: Any) -> dict | None:
        """UpdateItem on one session; None when its condition failed, every other error raised."""
        try:
            return self._table.update_item(Key={"sessionId": session_id}, **kwargs)
        except ClientError as error:
            if _conditional_failed(error):
                return None
            raise

    def create(self, item: Item) -> None:
        # Maps start empty so that later updates can SET one entry (a nested SET needs its parent map).
        item = {"audioWindows": {}, "frameWindows": {}, "ingestClaims": {}, **item}
        self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(sessionId)")

    def get(self, session_id: str) -> Item | None:
        return self._table.get_item(Key={"sessionId": session_id}, ConsistentRead=True).get("Item")

    def _record(self, session_id: str, window: int, set_attr: str, map_attr: str, meta: Item) -> Item | None:
        """Add the window to a set and its metadata to a map, returning the whole new item.

        Conditional on the session existing: an ADD on a missing key would otherwise create a stray item.
        ALL_NEW makes the audio and frames producers race safely: of two such updates DynamoDB serializes, the
        second always sees the first's window, so at least one of them sees both halves complete.
        """
        response = self._conditional_update(
            session_id,
            UpdateExpression=f"ADD {set_attr} :ws SET {map_attr}.#w = :meta",
            ConditionExpression="attribute_exists(sessionId)",
            ExpressionAttributeNames={"#w": str(window)},
            ExpressionAttributeValues={":ws": {window}, ":meta": meta},
            ReturnValues="ALL_NEW",
        )
        return response["Attributes"] if response else None

    def record_audio(self, session_id: str, window: int, size_bytes: int, etag: str, recorded_at: str) -> Item | None:
        meta = {"sizeBytes": size_bytes, "etag": etag, "recordedAt": recorded_at}
        return self._record(session_id, window, "completedAudioWindows", "audioWindows", meta)

    def record_frames(self, session_id: str, window: int, frame_count: int, recorded_at: str) -> Item | None:
        meta = {"frameCount": frame_count, "recordedAt": recorded_at}
        return self._record(session_id, window, "completedFrameWindows", "frameWindows", meta)

    def _claim(self, session_id: str, path: str, not_done: str, names: dict, values: dict, lease: int) -> str | None:
        """Write a lease at `path` if nothing is done yet and no live lease holds it; its token, or None."""
        now = self.now()
        token = uuid.uuid4().hex
        claimed = self._conditional_update(
            session_id,
            UpdateExpression=f"SET {path} = :claim",
            ConditionExpression=(
                f"attribute_exists(sessionId) AND {not_done} AND (attribute_not_exists({path}) OR {path}.#until < :now)"
            ),
            ExpressionAttributeNames={**names, "#until": "until"},
            ExpressionAttributeValues={
                **values,
                ":now": Decimal(str(now)),
                ":claim": {"until": Decimal(str(now + lease)), "token": token},
            },
        )
        return token if claimed is not None else None

    def claim_ingest(self, session_id: str, window: int, lease_seconds: int) -> Claim:
        """Take the right to invoke ingest for one window, unless it was triggered or another live claim holds it.

        A claim is a lease: if its holder crashes or times out between claim and invoke, the claim expires and a
        redelivered event takes it over, so the window is never stranded.
        """
        token = self._claim(
            session_id,
            "ingestClaims.#w",
            "NOT contains(ingestTriggeredWindows, :wn)",
            {"#w": str(window)},
            {":wn": window},
            lease_seconds,
        )
        if token is not None:
            return Claim(ClaimOutcome.CLAIMED, token)
        item = self.get(session_id)
        if item is None:
            return Claim(ClaimOutcome.NO_SESSION)
        if window in window_numbers(item, "ingestTriggeredWindows"):
            return Claim(ClaimOutcome.ALREADY_TRIGGERED)
        return Claim(ClaimOutcome.IN_FLIGHT)

    def confirm_ingest(self, session_id: str, window: int) -> None:
        """The invoke was accepted: the window is triggered for good and its claim is no longer needed."""
        self._table.update_item(
            Key={"sessionId": session_id},
            UpdateExpression="ADD ingestTriggeredWindows :ws REMOVE ingestClaims.#w",
            ConditionExpression="attribute_exists(sessionId)",
            ExpressionAttributeNames={"#w": str(window)},
            ExpressionAttributeValues={":ws": {window}},
        )

    def release_ingest(self, session_id: str, window: int, token: str) -> None:
        """Roll back our own claim after a failed invoke, so the retry can claim at once; never someone else's."""
        self._conditional_update(
            session_id,
            UpdateExpression="REMOVE ingestClaims.#w",
            ConditionExpression="ingestClaims.#w.#token = :token",
            ExpressionAttributeNames={"#w": str(window), "#token": "token"},
            ExpressionAttributeValues={":token": token},
        )

    # --- session completeness ---------------------------------------------------------------------------------

    def finalize(self, session_id: str, expected: int) -> Item | None:
        """recording -> finalizing with the expected window count; the new item, or None if no longer recording."""
        response = self._conditional_update(
            session_id,
            UpdateExpression="SET #status = :finalizing, expectedWindowCount = :n, #since = :now, #sweep = :pending",
            ConditionExpression="#status = :recording",
            ExpressionAttributeNames={"#status": "status", "#since": PENDING_RANGE, "#sweep": PENDING_HASH},
            ExpressionAttributeValues={
                ":finalizing": contract.STATUS_FINALIZING,
                ":recording": contract.STATUS_RECORDING,
                ":n": expected,
                ":now": Decimal(str(self.now())),
                ":pending": contract.PENDING_MARK,
            },
            ReturnValues="ALL_NEW",
        )
        return response["Attributes"] if response else None

    def mark_ready(self, session_id: str) -> bool:
        """finalizing -> ready, exactly once: of concurrent callers only one gets True."""
        return self._transition(
            session_id,
            "SET #status = :ready, readyAt = :now",
            {":ready": contract.STATUS_READY, ":now": Decimal(str(self.now()))},
        )

    def mark_incomplete(self, session_id: str, missing: list[int], seen: Item) -> bool:
        """finalizing -> incomplete with the missing windows, and off the sweeper's index.

        Conditional on no window having arrived since `seen` was read: a late window wins over the sweeper.
        """
        condition, values = "", {}
        for attribute in ("completedAudioWindows", "completedFrameWindows"):
            count = len(seen.get(attribute, ()))
            condition += (
                f" AND attribute_not_exists({attribute})" if count == 0 else f" AND size({attribute}) = :n_{attribute}"
            )
            if count:
                values[f":n_{attribute}"] = count
        return self._transition(
            session_id,
            "SET #status = :incomplete, missingWindows = :missing, incompleteAt = :now REMOVE #sweep",
            {
                ":incomplete": contract.STATUS_INCOMPLETE,
                ":missing": missing,
                ":now": Decimal(str(self.now())),
                **values,
            },
            extra_condition=condition,
        )

    def _transition(self, session_id: str, update: str, values: dict, extra_condition: str = "") -> bool:
        """A status change out of finalizing: True for the one caller whose condition held."""
        names = {"#status": "status", **({"#sweep": PENDING_HASH} if "#sweep" in update else {})}
        response = self._conditional_update(
            session_id,
            UpdateExpression=update,
            ConditionExpression="#status = :finalizing" + extra_condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={":finalizing": contract.STATUS_FINALIZING, **values},
        )
        return response is not None

    def claim_processing(self, session_id: str, lease_seconds: int) -> str | None:
        """The right to deliver a ready session's processing trigger: a token, or None if delivered or held."""
        return self._claim(
            session_id,
            "processingClaim",
            "#status = :ready AND attribute_not_exists(processingTriggeredAt)",
            {"#status": "status"},
            {":ready": contract.STATUS_READY},
            lease_seconds,
        )

    def confirm_processing(self, session_id: str) -> None:
        """Delivered: the session leaves the sweeper's index for good."""
        self._table.update_item(
            Key={"sessionId": session_id},
            UpdateExpression="SET processingTriggeredAt = :now REMOVE processingClaim, #sweep",
            ExpressionAttributeNames={"#sweep": PENDING_HASH},
            ExpressionAttributeValues={":now": Decimal(str(self.now()))},
        )

    def release_processing(self, session_id: str, token: str) -> None:
        self._conditional_update(
            session_id,
            UpdateExpression="REMOVE processingClaim",
            ConditionExpression="processingClaim.#token = :token",
            ExpressionAttributeNames={"#token": "token"},
            ExpressionAttributeValues={":token": token},
        )

    def pending(self, finalizing_before: float) -> Iterator[Item]:
        """Sessions on the sweeper's index: finalizing since before the cutoff, or ready but not yet triggered."""
        kwargs: dict[str, Any] = {
            "IndexName": contract.PENDING_INDEX_NAME,
            "KeyConditionExpression": Key(PENDING_HASH).eq(contract.PENDING_MARK),
        }
        while True:
            page = self._table.query(**kwargs)
            for item in page.get("Items", []):
                if item.get("status") == contract.STATUS_READY or float(item[PENDING_RANGE]) < finalizing_before:
                    yield item
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
