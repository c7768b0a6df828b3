"""`python -m bench.cost`: the AWS bill of one 60-window session, by service, for both event transports.

Nothing here is guessed that can be counted: the session runs through the real handlers in-process under moto, and
every AWS call they make is counted per function (DynamoDB capacity units from the item's size before and after each
write, as DynamoDB bills them); the handlers' log output is measured. Memory sizes, architectures and retention come
from the Pulumi program itself (run under mocks). Prices and latencies are named constants below, with their source.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import uuid
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import boto3
from moto import mock_aws

from devstack import provision, s3events
from devstack.apigw import http_api_event
from handlers import contract, layout

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
    """What one session makes each function do, counted."""

    invocations: Counter = field(default_factory=Counter)  # function -> invocations
    calls: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # function -> "svc.Op" -> n
    wru: float = 0.0
    rru: float = 0.0
    log_bytes: Counter = field(default_factory=Counter)  # function -> bytes its handler printed
    item_bytes: int = 0
    api_requests: int = 0
    custom_events: int = 0


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
    if isinstance(value, set | frozenset):
        return sum(item_size(v) for v in value)
    if isinstance(value, dict):
        return 3 + sum(len(k.encode()) + item_size(v) + 1 for k, v in value.items())
    if isinstance(value, list):
        return 3 + sum(item_size(v) + 1 for v in value)
    raise TypeError(type(value))


class Meter:
    """Counts every AWS call the handlers' clients make (a botocore before-call hook on the default session), with
    DynamoDB units from the item as seen by a separate, uncounted client; answers Lambda Invoke itself (moto runs
    no Lambda code) and queues the request for the ingest handler."""

    def __init__(self, table_name: str):
        self.usage = Usage()
        self.function = "?"
        self.ingest_queue: list[dict] = []
        self._table = boto3.session.Session(region_name=REGION).resource("dynamodb").Table(table_name)
        self._before = 0
        self._request: dict = {}

    def _size(self, key: dict | None) -> int:
        item = self._table.get_item(Key=key, ConsistentRead=True).get("Item") if key else None
        return sum(len(k.encode()) + item_size(v) for k, v in item.items()) if item else 0

    def before_call(self, model: Any, params: dict, **_: Any) -> Any:
        service = model.service_model.service_name
        self.usage.calls[self.function][f"{service}.{model.name}"] += 1
        # The serialized request; after-call is not given it.
        self._request = json.loads(params["body"]) if service in ("dynamodb", "events") else {}
        if service == "dynamodb" and model.name in ("PutItem", "UpdateItem", "DeleteItem"):
            self._before = self._size(_plain_key(self._request.get("Key") or _key_of(self._request.get("Item"))))
        if service == "lambda" and model.name == "Invoke":
            self.ingest_queue.append(json.loads(params["body"]))
            return SimpleNamespace(status_code=202, headers={}), {"StatusCode": 202}
        if service == "events" and model.name == "PutEvents":
            self.usage.custom_events += len(self._request["Entries"])
        return None

    def after_call(self, model: Any, parsed: dict, **_: Any) -> None:
        if model.service_model.service_name != "dynamodb":
            return
        request = self._request
        key = _plain_key(request.get("Key") or _key_of(request.get("Item")))
        if model.name in ("PutItem", "UpdateItem", "DeleteItem"):
            self.usage.wru += max(1, math.ceil(max(self._before, self._size(key)) / 1024))
        elif model.name == "GetItem":
            units = max(1, math.ceil(self._size(key) / 4096))
            self.usage.rru += units if request.get("ConsistentRead") else units / 2
        elif model.name == "Query":
            self.usage.rru += max(1, math.ceil(len(json.dumps(parsed.get("Items", []), default=str)) / 4096)) / 2


def _key_of(item: dict | None) -> dict | None:
    return {contract.TABLE_HASH_KEY: item[contract.TABLE_HASH_KEY]} if item else None


def _plain_key(key: dict | None) -> dict | None:
    """A key as the resource layer passes it, or as the client layer does ({"S": ...}), made plain."""
    if not key:
        return None
    return {name: value["S"] if isinstance(value, dict) else value for name, value in key.items()}


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


def measure_session(transport: str) -> Usage:
    """One 60-window session, as the client and the pipeline run it, through the real handlers under moto."""
    env = {
        "AWS_ACCESS_KEY_ID": "cost", "AWS_SECRET_ACCESS_KEY": "cost", "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_SERVICE_NAME": "cost", "POWERTOOLS_TRACE_DISABLED": "true",
        contract.ENV_BUCKET_NAME: "media", contract.ENV_SESSIONS_TABLE_NAME: "sessions",
        contract.ENV_INGEST_FUNCTION_NAME: "ingest", contract.ENV_PROCESSING_EVENT_BUS_NAME: "default",
    }
    tap = LogTap()
    # Installed before the handlers are imported: Powertools' loggers keep the stdout they found at import.
    with _environment(env), mock_aws(), warnings.catch_warnings(), contextlib.redirect_stdout(tap):
        warnings.simplefilter("ignore")
        provision.create_bucket(boto3.client("s3"), "media", REGION)
        provision.create_sessions_table(boto3.client("dynamodb"), "sessions")
        boto3.setup_default_session()
        meter = Meter("sessions")
        boto3.DEFAULT_SESSION.events.register("before-call", meter.before_call)
        boto3.DEFAULT_SESSION.events.register("after-call", meter.after_call)
        modules = {name: _fresh_import(f"handlers.{name}.app") for name in ("api", "upload_complete", "ingest")}

        def invoke(function: str, event: dict) -> Any:
            meter.function = function
            meter.usage.invocations[function] += 1
            tap.count_into(meter.usage.log_bytes, function)
            return modules[function].lambda_handler(event, Context())

        def api(method: str, path: str, body: dict | None = None, query: dict | None = None) -> dict:
            meter.usage.api_requests += 1
            event = http_api_event(method, path, query=query, body=json.dumps(body) if body else None,
                                   claims={"sub": "user"}, headers={"content-type": "application/json"})
            response = invoke("api", event)
            assert response["statusCode"] < 300, response
            return json.loads(response["body"])

        session_id = api("POST", "/sessions", {"captureMode": "audio_only"})["sessionId"]
        api("GET", f"/sessions/{session_id}")  # the client's resume check
        for window in range(WINDOWS):
            api("POST", f"/sessions/{session_id}/audio", {"sizeBytes": WINDOW_BYTES}, {"windowIndex": str(window)})
            meter.usage.calls["client"]["s3.PutObject"] += 1  # the presigned PUT itself
            key = layout.audio_key(session_id, window)
            invoke("upload_complete", s3_notification(key) if transport == "s3" else eventbridge_event(key))
            while meter.ingest_queue:
                invoke("ingest", meter.ingest_queue.pop())
        assert api("POST", f"/sessions/{session_id}/complete", {"expectedWindowCount": WINDOWS})["status"] == "ready"
        api("GET", f"/sessions/{session_id}")
        item = meter._table.get_item(Key={contract.TABLE_HASH_KEY: session_id})["Item"]
        meter.usage.item_bytes = sum(len(k.encode()) + item_size(v) for k, v in item.items())
        return meter.usage


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
    lines.append(("DynamoDB", f"{usage.item_bytes / 1024:.1f} KiB item stored {deployed.retention_days} days",
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


def report(stacks: list[str]) -> str:
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
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", action="append", help="a stack to price (repeatable; default: dev and prod)")
    print(report(parser.parse_args().stack or ["dev", "prod"]))


if __name__ == "__main__":
    main()
