"""`python -m bench.cost`: DynamoDB write units per window at 60, 1,440 and 10,000 windows for both capture modes;
the AWS bill of one 60-window session, by service, for both event transports.

Nothing here is guessed that can be counted: the session runs through the real handlers in-process under moto, and
every AWS call they make is counted per function (DynamoDB capacity units from the item's size before and after each
write, as DynamoDB bills them); the handlers' log output is measured. Memory sizes, architectures and retention come
from the Pulumi program itself (run under mocks). Prices and latencies are named constants below, with their source.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import math
import os
import re
import time
import uuid
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import boto3
from boto3.dynamodb.types import Binary, TypeDeserializer
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType

from devstack import deploy, s3events
from devstack.apigw import http_api_event
from handlers import contract, layout
from handlers.dal.sessions_table import HEADER_SK

WINDOWS = 60
WINDOW_BYTES = 2_000_044  # 60 s of 16 kHz 16-bit mono WAV, as the app records
REGION = "us-east-1"

# --- prices: us-east-1 public list prices, read 2026-11-21; free tiers left out (they are per account, not per
# session). Sources: aws.amazon.com/<service>/pricing pages, cross-checked against recent summaries of them.
S3_PUT_PER_1000 = 0.005  # aws.amazon.com/s3/pricing: S3 Standard PUT, COPY, POST, LIST per 1,000 requests
S3_STANDARD_GB_MONTH = 0.023  # aws.amazon.com/s3/pricing: S3 Standard, first 50 TB / month
HTTP_API_PER_MILLION = 1.00  # aws.amazon.com/api-gateway/pricing: HTTP APIs, first 300 million (512 KB increments)
LAMBDA_REQUEST_PER_MILLION = 0.20  # aws.amazon.com/lambda/pricing: requests
LAMBDA_GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}  # aws.amazon.com/lambda/pricing: first tier
DYNAMODB_WRU_PER_MILLION = 0.625  # aws.amazon.com/dynamodb/pricing/on-demand (since the November 2024 reduction)
DYNAMODB_RRU_PER_MILLION = 0.125  # same page
DYNAMODB_GB_MONTH = 0.25  # same page: Standard table class storage
SQS_PER_MILLION = 0.40  # aws.amazon.com/sqs/pricing: standard queue requests (64 KB chunks)
EVENTBRIDGE_CUSTOM_PER_MILLION = 1.00  # aws.amazon.com/eventbridge/pricing: custom events (64 KB chunks)
EVENTBRIDGE_AWS_SERVICE_EVENT = 0.0  # same page: events from AWS services (S3 "Object Created") are free
CLOUDWATCH_LOGS_INGEST_GB = 0.50  # aws.amazon.com/cloudwatch/pricing: Standard log class ingestion
CLOUDWATCH_LOGS_STORE_GB_MONTH = 0.03  # same page: archived log storage
XRAY_TRACE_RECORDED = 5.00 / 1_000_000  # aws.amazon.com/xray/pricing: traces recorded

# --- assumptions (not prices): what a Lambda bills for besides its requests ------------------------------------
# Latency of one AWS call from a Lambda in the same region (typical, assumed); the handler's own work on top.
CALL_MS = {"dynamodb": 6.0, "s3": 25.0, "lambda": 15.0, "events": 15.0, "stepfunctions": 20.0}
HANDLER_OVERHEAD_MS = 3.0  # parsing, validation, logging per invocation (assumed)
INIT_MS = 1000.0  # a cold start's init phase, billed since August 2025 (see bench.handlers for local import times)
COLD_STARTS_PER_FUNCTION = 1  # a lone session, one window a minute: each function starts once and stays warm
PLATFORM_LOG_BYTES = 450  # START, END and REPORT lines (with the X-Ray segment line) Lambda adds per invocation
ACCESS_LOG_BYTES = 350  # one API Gateway access log line in the stage's format
GB = 1024**3


@dataclass
class Usage:
    """What the handlers made AWS do, counted: per function, and DynamoDB units per (function, what was written/read)."""

    invocations: Counter = field(default_factory=Counter)  # function -> invocations
    calls: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # function -> "svc.Op" -> n
    wcu: Counter = field(default_factory=Counter)  # (function, label) -> write units
    rcu: Counter = field(default_factory=Counter)  # (function, label) -> read units
    log_bytes: Counter = field(default_factory=Counter)  # function -> bytes its handler printed
    item_bytes: int = 0  # what the session leaves stored: its items, with DynamoDB's 100 bytes of overhead each
    items: int = 0
    api_requests: int = 0
    custom_events: int = 0

    @property
    def wru(self) -> float:
        return sum(self.wcu.values())

    @property
    def rru(self) -> float:
        return sum(self.rcu.values())

    def mark(self) -> tuple[Counter, Counter]:
        return Counter(self.wcu), Counter(self.rcu)

    def since(self, mark: tuple[Counter, Counter]) -> tuple[Counter, Counter]:
        """The units counted since `mark`, by (function, label)."""
        return self.wcu - mark[0], self.rcu - mark[1]


def item_size(value: Any) -> int:
    """An attribute value's size as DynamoDB counts it (close enough: names and values, 3 bytes per container)."""
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float | Decimal):
        return len(str(value).lstrip("-").replace(".", "")) // 2 + 2
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, Binary):
        return len(value.value)
    if isinstance(value, set | frozenset):
        return sum(item_size(v) for v in value)
    if isinstance(value, dict):
        return 3 + sum(len(k.encode()) + item_size(v) + 1 for k, v in value.items())
    if isinstance(value, list):
        return 3 + sum(item_size(v) + 1 for v in value)
    raise TypeError(type(value))


def item_bytes(item: dict[str, Any] | None) -> int:
    """A whole item's size: its attribute names and values."""
    return sum(len(k.encode()) + item_size(v) for k, v in item.items()) if item else 0


# --- DynamoDB's billing rules (developer guide, "Capacity unit consumption"), applied to the items as they are ------


def write_units(size: int) -> int:
    """A standard write: 1 KB units of the larger of the item before and after, at least 1 (a failed condition too)."""
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    """GetItem, and each key of a BatchGetItem: 4 KB units of the item, at least 1 (an absent item too); eventually
    consistent reads cost half."""
    return max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5)


TRANSACTIONAL = 2  # each write inside TransactWriteItems costs twice a standard write (prepare and commit)
HEADER_LABEL, WINDOW_LABEL = "header", "window"


@dataclass(frozen=True)
class Index:
    """A global secondary index: its key attributes and what it projects (None: every attribute)."""

    name: str
    keys: tuple[str, ...]
    projected: frozenset[str] | None

    def entry(self, item: dict[str, Any] | None) -> dict[str, Any] | None:
        """The item's entry in this index; None when the item is not in it (a sparse index)."""
        if item is None or any(key not in item for key in self.keys):
            return None
        return dict(item) if self.projected is None else {k: v for k, v in item.items() if k in self.projected}

    def write_units(self, before: dict[str, Any] | None, after: dict[str, Any] | None) -> int:
        """The index's own writes for one table write: none when the item is in the index neither before nor after;
        one when it enters, leaves, or its projection changes; two (delete, put) when its index key changes."""
        old, new = self.entry(before), self.entry(after)
        if old is None and new is None:
            return 0
        if old is not None and new is not None and all(old[k] == new[k] for k in self.keys):
            return 0 if old == new else write_units(max(item_bytes(old), item_bytes(new)))
        return (write_units(item_bytes(old)) if old is not None else 0) + (
            write_units(item_bytes(new)) if new is not None else 0
        )


@dataclass
class _Write:
    table: str
    key: dict[str, Any]  # typed, as on the wire
    label: str
    factor: int  # 1, or TRANSACTIONAL
    before: dict[str, Any] | None


class Meter:
    """Counts every AWS call the handlers' clients make (a botocore before-call hook on the default session), with
    DynamoDB units computed from the items as a separate, uncounted client sees them before and after each call;
    answers Lambda Invoke itself (moto runs no Lambda code) and queues the request for the ingest handler."""

    def __init__(self, region: str = REGION) -> None:
        self.usage = Usage()
        self.function = "?"
        self.ingest_queue: list[dict] = []
        self._region = region
        self._client = boto3.session.Session(region_name=region).client("dynamodb")
        self._schemas: dict[str, tuple[tuple[str, ...], tuple[Index, ...]]] = {}
        self._request: dict = {}
        self._writes: list[_Write] = []

    # --- the table as it is, read without being counted

    def _schema(self, table: str) -> tuple[tuple[str, ...], tuple[Index, ...]]:
        if table not in self._schemas:
            described = self._client.describe_table(TableName=table)["Table"]
            keys = tuple(k["AttributeName"] for k in described["KeySchema"])
            indexes = []
            for gsi in described.get("GlobalSecondaryIndexes", []):
                index_keys = tuple(k["AttributeName"] for k in gsi["KeySchema"])
                projection = gsi["Projection"]
                projected = (
                    None
                    if projection["ProjectionType"] == "ALL"
                    else frozenset(keys + index_keys + tuple(projection.get("NonKeyAttributes", [])))
                )
                indexes.append(Index(gsi["IndexName"], index_keys, projected))
            self._schemas[table] = (keys, tuple(indexes))
        return self._schemas[table]

    def item(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        """The item as the table holds it now, read from moto's backend in this process: a GetItem through a client
        would cost the bench as much as the call it meters."""
        hash_name, *range_name = self._schema(table)[0]
        found = dynamodb_backends[DEFAULT_ACCOUNT_ID][self._region].get_table(table).get_item(
            DynamoType(key[hash_name]), DynamoType(key[range_name[0]]) if range_name else None
        )
        return {name: _DESERIALIZE(value) for name, value in found.to_json()["Attributes"].items()} if found else None

    def _key(self, table: str, item: dict[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self._schema(table)[0]}

    def _kind(self, key: dict[str, Any]) -> str:
        return HEADER_LABEL if key.get(contract.TABLE_RANGE_KEY) == {"S": HEADER_SK} else WINDOW_LABEL

    # --- the hooks

    def before_call(self, model: Any, params: dict, **_: Any) -> Any:
        service = model.service_model.service_name
        self.usage.calls[self.function][f"{service}.{model.name}"] += 1
        # The serialized request; after-call is not given it.
        self._request = json.loads(params["body"]) if service in ("dynamodb", "events") else {}
        if service == "dynamodb":
            self._writes = [
                _Write(table, key, label, factor, self.item(table, key))
                for table, key, label, factor in self._planned_writes(model.name, self._request)
            ]
        if service == "lambda" and model.name == "Invoke":
            self.ingest_queue.append(json.loads(params["body"]))
            return SimpleNamespace(status_code=202, headers={}), {"StatusCode": 202}
        if service == "events" and model.name == "PutEvents":
            self.usage.custom_events += len(self._request["Entries"])
        return None

    def _planned_writes(self, operation: str, request: dict) -> Iterator[tuple[str, dict, str, int]]:
        """(table, key, label, factor) of every item the call may write."""
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            entries = [(operation, request, 1)]
        elif operation == "TransactWriteItems":
            entries = [(kind, body, TRANSACTIONAL) for entry in request["TransactItems"] for kind, body in entry.items()]
        elif operation == "BatchWriteItem":
            entries = [
                ("PutItem" if "PutRequest" in r else "DeleteItem", {"TableName": t, **(r.get("PutRequest") or r["DeleteRequest"])}, 1)
                for t, requests in request["RequestItems"].items()
                for r in requests
            ]
        else:
            return
        for kind, body, factor in entries:
            table = body["TableName"]
            key = body.get("Key") or self._key(table, body["Item"])
            yield table, key, self._label(kind, body, key, factor), factor

    def _label(self, operation: str, body: dict, key: dict, factor: int) -> str:
        """What a write is for, named from the item it writes and its update (bench-side knowledge of the table)."""
        kind = self._kind(key)
        if factor == TRANSACTIONAL:
            return f"{kind}: transaction"
        expression = body.get("UpdateExpression", "")
        if kind == WINDOW_LABEL and operation == "PutItem":
            return "window: first half"
        if kind == WINDOW_LABEL and operation == "UpdateItem":
            if "ingestedAt" in expression:
                return "window: confirm"
            if "REMOVE claim" in expression:
                return "window: claim released"
            if expression.startswith("SET claim"):
                return "window: claim taken over"
            return "window: first half"
        return f"{kind}: {operation}"

    def after_call(self, model: Any, parsed: dict, **_: Any) -> None:
        if model.service_model.service_name != "dynamodb":
            return
        charge_to = self.function
        error = parsed.get("Error", {}).get("Code")
        if error and error not in _BILLED_ERRORS:
            self._writes = []
            return
        # A write whose condition failed, or a canceled transaction, is billed as if written (the item unchanged).
        for write in self._writes:
            after = self.item(write.table, write.key)
            units = write_units(max(item_bytes(write.before), item_bytes(after)))
            for index in self._schema(write.table)[1]:
                units += index.write_units(write.before, after)
            self.usage.wcu[(charge_to, write.label)] += units * write.factor
        self._writes = []
        request = self._request
        if model.name == "GetItem":
            size = item_bytes(self.item(request["TableName"], request["Key"]))
            self.usage.rcu[(charge_to, "GetItem")] += read_units(size, bool(request.get("ConsistentRead")))
        elif model.name == "BatchGetItem":
            for table, spec in request["RequestItems"].items():
                for key in spec["Keys"]:
                    size = item_bytes(self.item(table, key))
                    self.usage.rcu[(charge_to, "BatchGetItem")] += read_units(size, bool(spec.get("ConsistentRead")))
        elif model.name in ("Query", "Scan"):
            self.usage.rcu[(charge_to, model.name)] += self._scan_units(model.name, request)

    def _scan_units(self, operation: str, request: dict) -> float:
        """A Query or Scan is billed on every item it evaluates (before any filter, whatever it returns), summed and
        then rounded up to 4 KB: run it again, uncounted, without the filter, the projection or the count."""
        kept = {k: v for k, v in request.items() if k not in _RETURN_SHAPING}
        used = set(re.findall(r"[#:][A-Za-z0-9_]+", kept.get("KeyConditionExpression", "")))
        for placeholders in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
            remaining = {k: v for k, v in kept.pop(placeholders, {}).items() if k in used}
            if remaining:
                kept[placeholders] = remaining
        page = getattr(self._client, "query" if operation == "Query" else "scan")(**kept)
        size = sum(item_bytes({n: _DESERIALIZE(v) for n, v in item.items()}) for item in page["Items"])
        return max(1, math.ceil(size / 4096)) * (1.0 if request.get("ConsistentRead") else 0.5)


_RETURN_SHAPING = ("FilterExpression", "Select", "ProjectionExpression", "AttributesToGet", "QueryFilter",
                   "ScanFilter", "ConditionalOperator", "ReturnConsumedCapacity")
_DESERIALIZE = TypeDeserializer().deserialize
_BILLED_ERRORS = ("ConditionalCheckFailedException", "TransactionCanceledException")  # refused, yet consumed


class LogTap(io.TextIOBase):
    """Stands in for stdout (what Lambda ships to CloudWatch Logs): counts the bytes each function writes."""

    def __init__(self) -> None:
        self._counter: Counter = Counter()
        self._function = "?"

    def count_into(self, counter: Counter, function: str) -> None:
        self._counter, self._function = counter, function

    def write(self, text: str) -> int:
        self._counter[self._function] += len(text.encode())
        return len(text)


@dataclass
class Context:
    function_name: str = "cost"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:cost"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def s3_notification(key: str) -> dict:
    return s3events.notification(s3events.notification_record("media", key, size=WINDOW_BYTES, etag="e"))


def eventbridge_event(key: str) -> dict:
    return s3events.object_created("media", key, size=WINDOW_BYTES, etag="e")


class Harness:
    """The real handlers in-process under moto, every AWS call they make metered, their stdout counted."""

    TABLE = "sessions"

    def __init__(self, meter: Meter, tap: LogTap, modules: dict[str, Any]):
        self.meter, self._tap, self._modules = meter, tap, modules

    @property
    def usage(self) -> Usage:
        return self.meter.usage

    def invoke(self, function: str, event: dict) -> Any:
        self.meter.function = function
        self.usage.invocations[function] += 1
        self._tap.count_into(self.usage.log_bytes, function)
        return self._modules[function].lambda_handler(event, Context())

    def api(self, method: str, path: str, body: dict | None = None, query: dict | None = None) -> dict:
        self.usage.api_requests += 1
        event = http_api_event(method, path, query=query, body=json.dumps(body) if body else None,
                               claims={"sub": "user"}, headers={"content-type": "application/json"})
        response = self.invoke("api", event)
        assert response["statusCode"] < 300, response
        return json.loads(response["body"])

    def object_created(self, key: str, transport: str = "s3", *, ingest: bool = True) -> None:
        """S3's event for the object, then the ingest invocations it caused (or, without `ingest`, dropped: the
        ingest function writes no DynamoDB item)."""
        self.upload(key)
        self.invoke("upload_complete", s3_notification(key) if transport == "s3" else eventbridge_event(key))
        while self.meter.ingest_queue:
            request = self.meter.ingest_queue.pop()
            if ingest:
                self.invoke("ingest", request)

    def upload(self, key: str) -> None:
        """The half in the bucket, as the client's presigned PUT leaves it (uncounted: a PUT is priced per window
        below): the completion path reads and validates what S3 holds."""
        from devstack import samples  # noqa: PLC0415

        media = layout.parse_key(key).media
        metadata = {contract.FRAME_COUNT_METADATA: "30"} if media is layout.Media.FRAMES else {}
        body = samples.wav_bytes() if media is layout.Media.AUDIO else samples.frames_zip(30)
        self._uncounted_s3.put_object(Bucket="media", Key=key, Body=body, Metadata=metadata)

    @functools.cached_property
    def _uncounted_s3(self) -> Any:
        return boto3.session.Session(region_name=REGION).client("s3")

    def session_items(self, session_id: str) -> list[dict[str, Any]]:
        """Every item of the session, read without being counted."""
        items, kwargs = [], {
            "TableName": self.TABLE,
            "KeyConditionExpression": "#id = :id",
            "ExpressionAttributeNames": {"#id": contract.TABLE_HASH_KEY},
            "ExpressionAttributeValues": {":id": {"S": session_id}},
        }
        while True:
            page = self.meter._client.query(**kwargs)
            items += [{n: _DESERIALIZE(v) for n, v in item.items()} for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


STORAGE_OVERHEAD_BYTES = 100  # DynamoDB bills each item's storage with 100 bytes of indexing overhead


@contextlib.contextmanager
def harness() -> Iterator[Harness]:
    env = {
        "AWS_ACCESS_KEY_ID": "cost", "AWS_SECRET_ACCESS_KEY": "cost", "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_SERVICE_NAME": "cost", "POWERTOOLS_TRACE_DISABLED": "true",
        contract.ENV_BUCKET_NAME: "media", contract.ENV_SESSIONS_TABLE_NAME: Harness.TABLE,
        contract.ENV_INGEST_FUNCTION_NAME: "ingest", contract.ENV_PROCESSING_EVENT_BUS_NAME: "default",
    }
    tap = LogTap()
    # Installed before the handlers are imported: Powertools' loggers keep the stdout they found at import.
    with _environment(env), mock_aws(), warnings.catch_warnings(), contextlib.redirect_stdout(tap):
        warnings.simplefilter("ignore")
        deploy.create_bucket(boto3.client("s3"), "media", REGION)
        deploy.create_sessions_table(boto3.client("dynamodb"), Harness.TABLE)
        boto3.setup_default_session()
        meter = Meter()
        boto3.DEFAULT_SESSION.events.register("before-call", meter.before_call)
        boto3.DEFAULT_SESSION.events.register("after-call", meter.after_call)
        modules = {name: _fresh_import(f"handlers.{name}.app") for name in ("api", "upload_complete", "ingest")}
        yield Harness(meter, tap, modules)


def measure_session(transport: str) -> Usage:
    """One 60-window session, as the client and the pipeline run it, through the real handlers under moto."""
    with harness() as h:
        session_id = h.api("POST", "/sessions", {"captureMode": "audio_only"})["sessionId"]
        h.api("GET", f"/sessions/{session_id}")  # the client's resume check
        for window in range(WINDOWS):
            h.api("POST", f"/sessions/{session_id}/audio", {"sizeBytes": WINDOW_BYTES}, {"windowIndex": str(window)})
            h.usage.calls["client"]["s3.PutObject"] += 1  # the presigned PUT itself
            h.object_created(layout.audio_key(session_id, window), transport)
        assert h.api("POST", f"/sessions/{session_id}/complete", {"expectedWindowCount": WINDOWS})["status"] == "ready"
        h.api("GET", f"/sessions/{session_id}")
        items = h.session_items(session_id)
        h.usage.items = len(items)
        h.usage.item_bytes = sum(item_bytes(item) + STORAGE_OVERHEAD_BYTES for item in items)
        return h.usage


# --- write units per window, by session length ----------------------------------------------------------------

LENGTHS = (60, 1_440, 10_000)
SAMPLE = 60  # windows sampled at each end of a session
HALVES = {"audio_only": (layout.Media.AUDIO,), "audio_video": (layout.Media.FRAMES, layout.Media.AUDIO)}
WCU_TARGET_AUDIO_ONLY = 6
SPREAD_TARGET = 1.10
# The columns of the table: which writes are a window's own. The rest of a window's writes (a claim taken over or
# released, after a failed invoke) would show as "other"; a clean run has none.
WINDOW_WRITES = {
    "window: transaction": "window item in the txn (record + claim)",
    "window: first half": "window item, first half (audio_video)",
    "window: confirm": "window item, confirm",
    "header: transaction": "header in the txn (counters)",
}


@dataclass
class Sampled:
    """Units summed over some windows of one session, and how many windows."""

    windows: int = 0
    first: int | None = None
    last: int = 0
    wcu: Counter = field(default_factory=Counter)  # label -> units
    rcu: Counter = field(default_factory=Counter)  # function -> units

    def add(self, window: int, wcu: Counter, rcu: Counter) -> None:
        self.windows += 1
        self.first = window if self.first is None else self.first
        self.last = window
        for (_, label), units in wcu.items():
            self.wcu[label] += units
        for (function, _), units in rcu.items():
            self.rcu[function] += units

    def per_window(self, label: str | None = None) -> float:
        units = sum(self.wcu.values()) if label is None else self.wcu[label]
        return units / self.windows

    def other_per_window(self) -> float:
        return sum(u for label, u in self.wcu.items() if label not in WINDOW_WRITES) / self.windows

    def rcu_per_window(self, function: str | None = None) -> float:
        return (sum(self.rcu.values()) if function is None else self.rcu[function]) / self.windows


@dataclass
class LengthRun:
    mode: str
    length: int
    samples: list[Sampled]
    largest_item: int
    header_bytes: int
    session_wcu: float  # create, complete (finalize, ready, the processing claim and its confirm)
    status_rcu: float  # one GET /sessions/{id} at the end: reads every window item
    seconds: float


def measure_length(h: Harness, mode: str, length: int, sample: int = SAMPLE) -> LengthRun:
    """One session of `length` windows through the real handlers: per window the grant, then S3's event for each
    half (audio_video: the frames first, so the audio completes the window). The units of each window are counted
    from its first call to its last; the first and the last `sample` windows are kept."""
    started = time.perf_counter()
    mark = h.usage.mark()
    session_id = h.api("POST", "/sessions", {"captureMode": mode})["sessionId"]
    session_wcu = sum(h.usage.since(mark)[0].values())
    head, tail = Sampled(), Sampled()
    for window in range(length):
        mark = h.usage.mark()
        h.api("POST", f"/sessions/{session_id}/audio", {"sizeBytes": WINDOW_BYTES}, {"windowIndex": str(window)})
        for media in HALVES[mode]:
            h.object_created(layout.object_key(session_id, window, media), ingest=False)
        wcu, rcu = h.usage.since(mark)
        if window < sample:
            head.add(window, wcu, rcu)
        if window >= max(length - sample, sample):
            tail.add(window, wcu, rcu)
    mark = h.usage.mark()
    assert h.api("POST", f"/sessions/{session_id}/complete", {"expectedWindowCount": length})["status"] == "ready"
    session_wcu += sum(h.usage.since(mark)[0].values())
    mark = h.usage.mark()
    status = h.api("GET", f"/sessions/{session_id}")
    assert status["counts"]["recorded"] == status["counts"]["ingested"] == length, status["counts"]
    status_rcu = sum(h.usage.since(mark)[1].values())
    items = h.session_items(session_id)
    header = next(item for item in items if item[contract.TABLE_RANGE_KEY] == HEADER_SK)
    return LengthRun(mode, length, [s for s in (head, tail) if s.windows], max(map(item_bytes, items)),
                     item_bytes(header), session_wcu, status_rcu, time.perf_counter() - started)


def window_units_table(runs: list[LengthRun]) -> str:
    out = [
        "Write units per window, by capture mode and session length: the real handlers in-process under moto; per "
        "window the grant and S3's event for each half, counted from the items' sizes (WCU = 1 KB units of the larger "
        "of the item before and after, x2 inside TransactWriteItems; RCU = 4 KB units per item read, strongly "
        f"consistent). Windows sampled: the first {SAMPLE} and the last {SAMPLE} of each session.",
        f"{'mode':<12} {'length':>6} {'windows':>11} {'WCU/win':>7} {'txn:win':>7} {'1st half':>8} {'confirm':>7} "
        f"{'txn:hdr':>7} {'other':>5} {'RCU/win':>7} {'grant':>5} {'compl.':>6} {'largest B':>9} {'header B':>8} "
        f"{'session WCU':>11} {'GET status RCU':>14} {'s':>5}",
    ]
    for run in runs:
        for s in run.samples:
            out.append(
                f"{run.mode:<12} {run.length:>6} {f'{s.first}-{s.last}':>11} {s.per_window():>7.2f} "
                f"{s.per_window('window: transaction'):>7.2f} {s.per_window('window: first half'):>8.2f} "
                f"{s.per_window('window: confirm'):>7.2f} {s.per_window('header: transaction'):>7.2f} "
                f"{s.other_per_window():>5.2f} {s.rcu_per_window():>7.2f} {s.rcu_per_window('api'):>5.2f} "
                f"{s.rcu_per_window('upload_complete'):>6.2f} {run.largest_item:>9} {run.header_bytes:>8} "
                f"{run.session_wcu:>11.0f} {run.status_rcu:>14.1f} {run.seconds:>5.0f}"
            )
    out.append("columns: WCU/win = every write of the window = txn:win (the window item in the transaction that "
               "records it and takes its ingest claim) + 1st half (audio_video: the frames, a plain UpdateItem) + "
               "confirm (ingested, claim dropped) + txn:hdr (the header's counters, in the same transaction) + other; "
               "RCU/win = grant (GetItem of the header) + compl. (BatchGetItem of header and window); session WCU = "
               "create + complete (not per window); GET status RCU = one status read at the end (reads every window "
               "item); largest B = the session's largest item.")
    for mode in dict.fromkeys(run.mode for run in runs):
        figures = [s.per_window() for run in runs if run.mode == mode for s in run.samples]
        spread = max(figures) / min(figures)
        verdict = f"{mode}: WCU/window from {min(figures):.2f} to {max(figures):.2f}, spread {spread:.3f} " \
                  f"(target <= {SPREAD_TARGET:.2f}: {'met' if spread <= SPREAD_TARGET else 'NOT met'})"
        if mode == "audio_only":
            verdict += f"; at most {max(figures):.2f} per window (target <= {WCU_TARGET_AUDIO_ONLY}: " \
                       f"{'met' if max(figures) <= WCU_TARGET_AUDIO_ONLY else 'NOT met'})"
        out.append(verdict)
    return "\n".join(out)


def measure_lengths(lengths: list[int], modes: list[str]) -> list[LengthRun]:
    with harness() as h:
        return [measure_length(h, mode, length) for mode in modes for length in lengths]


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _fresh_import(module: str) -> Any:
    """The handler module built anew, so that its clients come from the metered default session."""
    import importlib
    import sys

    sys.modules.pop(module, None)
    return importlib.import_module(module)


@dataclass(frozen=True)
class Deployment:
    """What the program deploys that prices depend on: each function's memory and architecture, retention."""

    memory_mb: dict[str, int]
    architecture: dict[str, str]
    retention_days: int
    log_retention_days: int


def deployment(stack: str) -> Deployment:
    from offline.program import run_program  # noqa: PLC0415 - imports Pulumi: only when asked

    run = run_program(stack)
    memory, arch = {}, {}
    for function in run.of_type("aws:lambda/function:Function"):
        name = function.inputs["handler"].split(".")[1]  # handlers.<name>.app.lambda_handler
        memory[name] = int(function.inputs.get("memorySize", 128))
        arch[name] = (function.inputs.get("architectures") or ["x86_64"])[0]
    (lifecycle,) = run.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    (rule,) = [r for r in lifecycle.inputs["rules"] if r["filter"].get("prefix") == layout.SESSIONS_PREFIX]
    logs = [int(g.inputs["retentionInDays"]) for g in run.of_type("aws:cloudwatch/logGroup:LogGroup")]
    return Deployment(memory, arch, int(rule["expiration"]["days"]), max(logs))


def bill(usage: Usage, deployed: Deployment) -> list[tuple[str, str, float]]:
    """(service, what, dollars) lines for one session."""
    months = deployed.retention_days * 24 / 730  # AWS meters GB-month by the hour, 730 hours to a month
    lines = []
    # An external ingest target (a stack's ingestFunctionArn) is another stack's bill, its S3 writes too.
    external = [f for f in usage.invocations if f not in deployed.memory_mb]
    puts = sum(calls["s3.PutObject"] for f, calls in usage.calls.items() if f not in external)
    lines.append(("S3", f"{puts} PUT (audio{'' if 'ingest' in external else ' + ingest records'})",
                  puts * S3_PUT_PER_1000 / 1000))
    stored = WINDOWS * WINDOW_BYTES / GB
    lines.append(("S3", f"{stored * 1024:.0f} MiB stored {deployed.retention_days} days",
                  stored * months * S3_STANDARD_GB_MONTH))
    lines.append(("API Gateway", f"{usage.api_requests} HTTP API requests", usage.api_requests * HTTP_API_PER_MILLION / 1e6))
    for function, count in sorted(usage.invocations.items()):
        if function in external:
            lines.append((f"Lambda {function}", f"{count} requests to the external target: not this stack's", 0.0))
            continue
        calls = usage.calls[function]
        per_call = sum(CALL_MS[op.split(".")[0]] * n for op, n in calls.items()) / count
        duration_s = (count * (HANDLER_OVERHEAD_MS + per_call) + COLD_STARTS_PER_FUNCTION * INIT_MS) / 1000
        memory, arch = deployed.memory_mb[function], deployed.architecture[function]
        gb_s = duration_s * memory / 1024
        lines.append((f"Lambda {function}", f"{count} requests, {gb_s:.2f} GB-s ({memory} MB {arch}, "
                      f"~{HANDLER_OVERHEAD_MS + per_call:.0f} ms each + {COLD_STARTS_PER_FUNCTION} init)",
                      count * LAMBDA_REQUEST_PER_MILLION / 1e6 + gb_s * LAMBDA_GB_SECOND[arch]))
    lines.append(("DynamoDB", f"{usage.wru:.0f} WRU, {usage.rru:.1f} RRU on demand",
                  usage.wru * DYNAMODB_WRU_PER_MILLION / 1e6 + usage.rru * DYNAMODB_RRU_PER_MILLION / 1e6))
    lines.append(("DynamoDB", f"{usage.item_bytes / 1024:.1f} KiB in {usage.items} items stored "
                  f"{deployed.retention_days} days",
                  usage.item_bytes / GB * months * DYNAMODB_GB_MONTH))
    lines.append(("EventBridge", f"{usage.custom_events} SessionReady (custom event)",
                  usage.custom_events * EVENTBRIDGE_CUSTOM_PER_MILLION / 1e6))
    lines.append(("SQS", "DLQs: used only by failed events", 0.0))
    log_bytes = (sum(usage.log_bytes.values()) + PLATFORM_LOG_BYTES * sum(usage.invocations.values())
                 + ACCESS_LOG_BYTES * usage.api_requests)
    lines.append(("CloudWatch Logs", f"{log_bytes / 1024:.0f} KiB ingested, kept {deployed.log_retention_days} days",
                  log_bytes / GB * (CLOUDWATCH_LOGS_INGEST_GB
                                    + CLOUDWATCH_LOGS_STORE_GB_MONTH * deployed.log_retention_days * 24 / 730)))
    traces = usage.api_requests + usage.invocations["upload_complete"] + usage.invocations["ingest"]
    lines.append(("X-Ray", f"{traces} traces (every invocation sampled: an upper bound)", traces * XRAY_TRACE_RECORDED))
    return lines


def transport_lines(transport: str, usage: Usage) -> list[tuple[str, str, float]]:
    if transport == "s3":
        return [("S3 -> Lambda", f"{usage.invocations['upload_complete']} notifications (no charge)", 0.0)]
    return [("EventBridge", f"{usage.invocations['upload_complete']} S3 Object Created (AWS service events)",
             usage.invocations["upload_complete"] * EVENTBRIDGE_AWS_SERVICE_EVENT)]


def bill_report(stacks: list[str]) -> str:
    usages = {transport: measure_session(transport) for transport in ("s3", "eventbridge")}
    out = [f"AWS cost of one session: {WINDOWS} windows of {WINDOW_BYTES / 1e6:.1f} MB, us-east-1 list prices "
           f"(read 2026-11-21), no free tier. Memory, architecture and retention from each stack's program run."]
    for stack in stacks:
        deployed = deployment(stack)
        totals = {}
        for transport, title in (("s3", "direct S3 notification"), ("eventbridge", "EventBridge")):
            usage = usages[transport]
            lines = bill(usage, deployed) + transport_lines(transport, usage)
            totals[title] = sum(cost for _, _, cost in lines)
            out.append(f"\nStack '{stack}', event transport: {title}")
            out.append(f"{'service':<22} {'usage':<70} {'USD':>10}")
            out += [f"{service:<22} {what:<70} {cost:>10.6f}" for service, what, cost in lines]
            out.append(f"{'total':<22} {'':<70} {totals[title]:>10.6f}")
        out.append(f"\nStack '{stack}', per 1,000 sessions: "
                   + ", ".join(f"{t} ${v * 1000:.2f}" for t, v in totals.items()))
    for transport, usage in usages.items():
        calls = {f: dict(sorted(c.items())) for f, c in sorted(usage.calls.items())}
        out.append(f"\nAWS calls counted per function ({transport} transport): {json.dumps(calls)}")
        out.append(f"DynamoDB units by function and write ({transport} transport): WCU "
                   + json.dumps({f"{f} / {label}": u for (f, label), u in sorted(usage.wcu.items())})
                   + ", RCU " + json.dumps({f"{f} / {label}": u for (f, label), u in sorted(usage.rcu.items())}))
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", action="append", help="a stack to price (repeatable; default: dev and prod)")
    parser.add_argument("--lengths", default=",".join(map(str, LENGTHS)),
                        help="session lengths for the write units per window, comma-separated ('' to skip)")
    parser.add_argument("--modes", default=",".join(HALVES), help="capture modes for the write units per window")
    parser.add_argument("--no-bill", action="store_true", help="only the write units per window")
    args = parser.parse_args()
    lengths = [int(n) for n in args.lengths.split(",") if n.strip()]
    if lengths:
        print(window_units_table(measure_lengths(lengths, args.modes.split(","))), flush=True)
    if not args.no_bill:
        print(("\n" if lengths else "") + bill_report(args.stack or ["dev", "prod"]))


if __name__ == "__main__":
    main()
