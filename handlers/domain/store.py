"""Every read and write of the sessions table, each write conditional so that races resolve in DynamoDB."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

Item = dict[str, Any]


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
        try:
            return self._table.update_item(
                Key={"sessionId": session_id},
                UpdateExpression=f"ADD {set_attr} :ws SET {map_attr}.#w = :meta",
                ConditionExpression="attribute_exists(sessionId)",
                ExpressionAttributeNames={"#w": str(window)},
                ExpressionAttributeValues={":ws": {window}, ":meta": meta},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as error:
            if _conditional_failed(error):
                return None
            raise

    def record_audio(self, session_id: str, window: int, size_bytes: int, etag: str, recorded_at: str) -> Item | None:
        meta = {"sizeBytes": size_bytes, "etag": etag, "recordedAt": recorded_at}
        return self._record(session_id, window, "completedAudioWindows", "audioWindows", meta)

    def record_frames(self, session_id: str, window: int, frame_count: int, recorded_at: str) -> Item | None:
        meta = {"frameCount": frame_count, "recordedAt": recorded_at}
        return self._record(session_id, window, "completedFrameWindows", "frameWindows", meta)

    def claim_ingest(self, session_id: str, window: int, lease_seconds: int) -> Claim:
        """Take the right to invoke ingest for one window, unless it was triggered or another live claim holds it.

        A claim is a lease: if its holder crashes or times out between claim and invoke, the claim expires and a
        redelivered event takes it over, so the window is never stranded.
        """
        now = self.now()
        token = uuid.uuid4().hex
        try:
            self._table.update_item(
                Key={"sessionId": session_id},
                UpdateExpression="SET ingestClaims.#w = :claim",
                ConditionExpression=(
                    "attribute_exists(sessionId) AND NOT contains(ingestTriggeredWindows, :wn)"
                    " AND (attribute_not_exists(ingestClaims.#w) OR ingestClaims.#w.#until < :now)"
                ),
                ExpressionAttributeNames={"#w": str(window), "#until": "until"},
                ExpressionAttributeValues={
                    ":wn": window,
                    ":now": Decimal(str(now)),
                    ":claim": {"until": Decimal(str(now + lease_seconds)), "token": token},
                },
            )
            return Claim(ClaimOutcome.CLAIMED, token)
        except ClientError as error:
            if not _conditional_failed(error):
                raise
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
        try:
            self._table.update_item(
                Key={"sessionId": session_id},
                UpdateExpression="REMOVE ingestClaims.#w",
                ConditionExpression="ingestClaims.#w.#token = :token",
                ExpressionAttributeNames={"#w": str(window), "#token": "token"},
                ExpressionAttributeValues={":token": token},
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise
