"""`dlq show` and `dlq redrive`: the completion DLQ and the sweeper's.

A message is either Lambda's on-failure record (an async invocation whose retries ran out: the original event is its
`requestPayload`) or, from an EventBridge rule's target DLQ, the event itself (EventBridge could not hand it to
Lambda; why is in the message attributes). Redrive replays each original event through the function it was meant for,
synchronously, and deletes the message only once that replay succeeded. The completion path records and ingests each
window exactly once, so a replay of an event already handled changes nothing, and a redrive run twice (or two at
once) is safe. The sweeper's DLQ holds scheduled events: one sweep replays them all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from ops.stack import Stack
from ops.target import COMPLETION, SWEEPER

# Long enough for every replay of one received batch; a crash of the tool makes them visible again after it.
REDRIVE_VISIBILITY_SECONDS = 300
SHOW_VISIBILITY_SECONDS = 30
# A deployed stack's queue is read with a short long poll, so that an empty answer means empty: a receive that does
# not wait samples a subset of SQS's servers. The local stack's moto is one server, read without waiting.
EMPTY_WAIT_SECONDS = 1


@dataclass
class DeadLetter:
    message_id: str
    receipt: str
    payload: Any  # the original event; None when the message is not one this tool can read
    sent_at: str | None = None
    condition: str | None = None
    attempts: int | None = None
    error: str | None = None
    keys: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"messageId": self.message_id, "sentAt": self.sent_at, "condition": self.condition,
                "attempts": self.attempts, "error": self.error, "keys": self.keys,
                "readable": self.payload is not None}


def parse(message: dict[str, Any]) -> DeadLetter:
    letter = DeadLetter(message["MessageId"], message["ReceiptHandle"], None)
    try:
        body = json.loads(message["Body"])
    except (KeyError, ValueError):
        letter.error = "not JSON: left in the queue"
        return letter
    if isinstance(body, dict) and "requestPayload" in body and "requestContext" in body:
        context = body.get("requestContext") or {}
        response = body.get("responsePayload") or {}
        letter.payload = body["requestPayload"]
        letter.sent_at = body.get("timestamp")
        letter.condition = context.get("condition")
        letter.attempts = context.get("approximateInvokeCount")
        if isinstance(response, dict) and response:
            letter.error = f"{response.get('errorType', 'Error')}: {response.get('errorMessage', '')}"
    elif isinstance(body, dict) and ("Records" in body or "detail-type" in body):
        attributes = message.get("MessageAttributes") or {}
        letter.payload = body
        letter.sent_at = body.get("time")
        letter.condition = _attribute(attributes, "ERROR_CODE") or "EventBridgeDeliveryFailed"
        letter.error = _attribute(attributes, "ERROR_MESSAGE")
    else:
        letter.error = "neither a Lambda failure record nor an event: left in the queue"
        return letter
    letter.keys = object_keys(letter.payload)
    return letter


def _attribute(attributes: dict[str, Any], name: str) -> str | None:
    value = attributes.get(name)
    return value.get("StringValue") if isinstance(value, dict) else None


def object_keys(event: Any) -> list[str]:
    """The object keys an S3 event names (notification keys are URL-encoded; EventBridge's are raw)."""
    if not isinstance(event, dict):
        return []
    if isinstance(event.get("Records"), list):
        return [unquote_plus(str(record.get("s3", {}).get("object", {}).get("key", "")))
                for record in event["Records"] if isinstance(record, dict)]
    detail = event.get("detail")
    if isinstance(detail, dict) and isinstance(detail.get("object"), dict):
        return [str(detail["object"].get("key", ""))]
    return []


def _receive(stack: Stack, url: str, visibility: int) -> Iterator[list[dict[str, Any]]]:
    """Batches until the queue shows nothing more; received messages stay invisible for `visibility` seconds."""
    wait = 0 if stack.target.local else EMPTY_WAIT_SECONDS
    while True:
        messages = stack.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=visibility, WaitTimeSeconds=wait,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return
        yield messages


def _release(stack: Stack, url: str, receipts: list[str]) -> None:
    """Make messages visible again at once: read or not replayed, they stay for the next run."""
    for start in range(0, len(receipts), 10):
        stack.sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": 0}
                     for i, r in enumerate(receipts[start:start + 10])],
        )


def depth(stack: Stack, url: str) -> dict[str, int]:
    attributes = stack.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return {"visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
            "inFlight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))}


def show(stack: Stack, queue: str, limit: int) -> dict[str, Any]:
    """Up to `limit` records of a DLQ, read and left in it."""
    url = stack.target.dlqs[queue]
    counts = depth(stack, url)
    letters: list[DeadLetter] = []
    receipts: list[str] = []
    try:
        for batch in _receive(stack, url, SHOW_VISIBILITY_SECONDS):
            for message in batch:
                receipts.append(message["ReceiptHandle"])
                if len(letters) < limit:
                    letters.append(parse(message))
            if len(letters) >= limit:
                break
    finally:
        _release(stack, url, receipts)
    return {"queue": queue, "url": url, **counts, "shown": len(letters),
            "records": [letter.summary() for letter in letters]}


@dataclass
class RedriveReport:
    queue: str
    replayed: list[dict[str, Any]] = field(default_factory=list)  # replayed and deleted
    failed: list[dict[str, Any]] = field(default_factory=list)  # replay failed: left in the queue
    unreadable: list[dict[str, Any]] = field(default_factory=list)  # left in the queue
    would_replay: list[dict[str, Any]] = field(default_factory=list)  # --dry-run

    def as_dict(self) -> dict[str, Any]:
        return {"queue": self.queue, "replayed": self.replayed, "failed": self.failed,
                "unreadable": self.unreadable, "wouldReplay": self.would_replay}


def redrive(stack: Stack, queue: str, *, dry_run: bool, log: Any = None) -> RedriveReport:
    """Replay every record of a DLQ through its function; delete each one only after its replay succeeded."""
    report = RedriveReport(queue)
    url = stack.target.dlqs[queue]
    note = log or (lambda line: None)
    kept: list[str] = []  # receipts to make visible again at the end (never during: they would be received again)
    try:
        if queue == SWEEPER:
            _redrive_sweeps(stack, url, report, kept, dry_run, note)
        else:
            for batch in _receive(stack, url, REDRIVE_VISIBILITY_SECONDS):
                for message in batch:
                    _redrive_one(stack, url, parse(message), report, kept, dry_run, note)
    finally:
        _release(stack, url, kept)
    return report


def _redrive_one(stack: Stack, url: str, letter: DeadLetter, report: RedriveReport, kept: list[str],
                 dry_run: bool, note: Any) -> None:
    entry = {"messageId": letter.message_id, "keys": letter.keys}
    if letter.payload is None:
        kept.append(letter.receipt)
        report.unreadable.append({**entry, "error": letter.error})
        note(f"unreadable {letter.message_id}: {letter.error}")
        return
    if dry_run:
        kept.append(letter.receipt)
        report.would_replay.append(entry)
        note(f"would replay {letter.message_id} ({', '.join(letter.keys) or 'no object keys'})")
        return
    outcome = stack.invoke(COMPLETION, letter.payload)
    if not outcome.ok:
        kept.append(letter.receipt)
        report.failed.append({**entry, "error": outcome.error})
        note(f"failed {letter.message_id} ({', '.join(letter.keys)}): {outcome.error}; left in the queue")
        return
    stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=letter.receipt)
    report.replayed.append({**entry, "result": outcome.result})
    note(f"replayed {letter.message_id} ({', '.join(letter.keys) or 'no object keys'}): deleted")


def _redrive_sweeps(stack: Stack, url: str, report: RedriveReport, kept: list[str], dry_run: bool,
                    note: Any) -> None:
    """Every failed sweep is replayed by one sweep: the sweeper works on the table as it is now, not on its event."""
    letters = [parse(message) for batch in _receive(stack, url, REDRIVE_VISIBILITY_SECONDS) for message in batch]
    readable = [letter for letter in letters if letter.payload is not None]
    for letter in letters:
        if letter.payload is None:
            kept.append(letter.receipt)
            report.unreadable.append({"messageId": letter.message_id, "error": letter.error})
            note(f"unreadable {letter.message_id}: {letter.error}")
    if not readable:
        return
    entries = [{"messageId": letter.message_id, "sentAt": letter.sent_at} for letter in readable]
    if dry_run:
        kept.extend(letter.receipt for letter in readable)
        report.would_replay.extend(entries)
        note(f"would run the sweeper once for {len(readable)} failed sweeps")
        return
    outcome = stack.invoke(SWEEPER, readable[0].payload)
    if not outcome.ok:
        kept.extend(letter.receipt for letter in readable)
        report.failed.extend({**entry, "error": outcome.error} for entry in entries)
        note(f"failed: the sweeper raised {outcome.error}; {len(readable)} messages left in the queue")
        return
    for letter, entry in zip(readable, entries, strict=True):
        stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=letter.receipt)
        report.replayed.append({**entry, "result": outcome.result})
    note(f"ran the sweeper once for {len(readable)} failed sweeps: deleted; its report: {json.dumps(outcome.result)}")
