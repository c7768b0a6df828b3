"""LocalStack: the deployed pipeline on 127.0.0.1, its handlers unchanged and in-process, moto behind them."""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from werkzeug.exceptions import NotFound
from werkzeug.middleware.shared_data import SharedDataMiddleware

from devstack import provision
from devstack.capture import SessionReadyCapture
from devstack.control import ControlApi
from devstack.cors import HttpApiCors, S3Cors
from devstack.faults import FailingPuts, Faults
from devstack.front import HttpApiFront
from devstack.gate import PresignGate
from devstack.lambda_api import LambdaInvokeApi
from devstack.relay import EventRelay, failure_record
from devstack.runtime import DEFAULT_CONCURRENCY, MEMORY_MB, Activity, AsyncInvoker, Function, load_handler_module
from devstack.schedule import scheduled_event
from devstack.servers import MotoServer, WsgiServer
from devstack.tokens import DEFAULT_STATE_DIR, DEV_USER, ENDPOINTS_FILE, DevKey
from handlers import contract, cors, layout

log = logging.getLogger("devstack")

DEFAULT_REGION = "eu-west-1"


@dataclass(frozen=True)
class Names:
    """Resource names, suffixed like Pulumi's auto-names (so two stacks in one process, which share moto's
    in-memory backends, never collide)."""

    bucket: str
    table: str
    api_function: str
    completion_function: str
    ingest_function: str
    events_queue: str
    dlq: str
    sweeper_function: str
    sweeper_dlq: str
    sweep_schedule: str
    processing_bus: str
    session_ready_rule: str
    session_ready_queue: str

    @classmethod
    def generate(cls, project: str = "session-uploads") -> Names:
        suffix = secrets.token_hex(4)
        return cls(
            bucket=f"{project}-media-{suffix}",
            table=f"{project}-sessions-{suffix}",
            api_function=f"{project}-api-{suffix}",
            completion_function=f"{project}-upload-complete-{suffix}",
            ingest_function=f"{project}-ingest-{suffix}",
            events_queue=f"{project}-upload-events-{suffix}",
            dlq=f"{project}-upload-complete-dlq-{suffix}",
            sweeper_function=f"{project}-sweeper-{suffix}",
            sweeper_dlq=f"{project}-sweeper-dlq-{suffix}",
            sweep_schedule=f"{project}-sweep-schedule-{suffix}",
            processing_bus=f"{project}-processing-{suffix}",
            session_ready_rule=f"{project}-session-ready-{suffix}",
            session_ready_queue=f"{project}-session-ready-capture-{suffix}",
        )


class LocalStack:
    """Start with `with LocalStack() as stack:` (or start()/stop()). Options: `retry_delays` between Lambda's
    async attempts, `claim_lease_seconds` (INGEST_CLAIM_LEASE_SECONDS, also the processing trigger's lease),
    `completion_timeout_seconds` (COMPLETION_TIMEOUT_SECONDS, the sweeper's), `url_expires_seconds`, `state_dir`;
    `cors_allowed_origins` (the stack config's corsAllowedOrigins: the bucket's CORS rules and the API's CORS
    settings), `static_dir` (served at `page_url`, whose origin is allowed too), `control` (serve `control_url`,
    devstack/control.py)."""

    def __init__(
        self,
        *,
        retry_delays: tuple[float, ...] = (2.0, 4.0),
        claim_lease_seconds: int = 1,
        url_expires_seconds: int = contract.DEFAULT_URL_EXPIRES_SECONDS,
        max_audio_bytes: int = contract.DEFAULT_MAX_AUDIO_BYTES,
        max_frames_bytes: int = contract.DEFAULT_MAX_FRAMES_BYTES,
        completion_timeout_seconds: int = contract.DEFAULT_COMPLETION_TIMEOUT_SECONDS,
        region: str = DEFAULT_REGION,
        state_dir: Path | str = DEFAULT_STATE_DIR,
        cors_allowed_origins: Sequence[str] = (),
        static_dir: Path | str | None = None,
        control: bool = False,
    ):
        self.retry_delays = tuple(retry_delays)
        # Each function's own environment variables (the stack's endpoints and credentials aside), by handler module.
        self.function_variables: dict[str, dict[str, str]] = {}
        self.claim_lease_seconds = claim_lease_seconds
        self.url_expires_seconds = url_expires_seconds
        self.max_audio_bytes = max_audio_bytes
        self.max_frames_bytes = max_frames_bytes
        self.completion_timeout_seconds = completion_timeout_seconds
        self.region = region
        self.state_dir = Path(state_dir)
        self.cors_allowed_origins = tuple(cors_allowed_origins)
        self.static_dir = Path(static_dir) if static_dir is not None else None
        self.control = control
        self.page_url: str | None = None
        self.control_url: str | None = None
        self.names = Names.generate()
        self.faults = Faults()
        # Per-stack fake credentials: the presign gate checks signatures made with them.
        self.credentials = Credentials(f"DEVSTACK{secrets.token_hex(6).upper()}", secrets.token_urlsafe(30))
        self._activity = Activity()
        self._stopping = threading.Event()
        self._servers: list[Any] = []
        self._invokers: list[AsyncInvoker] = []
        self._relay: EventRelay | None = None
        self._capture: SessionReadyCapture | None = None
        self.endpoints: dict[str, str] = {}

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self._key = DevKey.load_or_create(self.state_dir)
        moto = MotoServer()
        moto.start()
        self._servers.append(moto)
        self.aws_endpoint = moto.url
        self._session = boto3.session.Session(
            aws_access_key_id=self.credentials.access_key,
            aws_secret_access_key=self.credentials.secret_key,
            region_name=self.region,
        )
        self._s3 = self._client("s3")
        self._sqs = self._client("sqs")
        if self.static_dir is not None:
            # First, so that its origin (a free port) is known when the CORS rules are written.
            pages = SharedDataMiddleware(NotFound(), {"/": str(self.static_dir.resolve())}, cache=False)
            self.page_url = self._serve(pages, "devstack-pages")
            self.cors_allowed_origins += (self.page_url,)
        self._provision()

        gate = PresignGate(self.aws_endpoint, self.credentials, self.region, clock=self._s3_clock)
        self.s3_endpoint = self._serve(S3Cors(FailingPuts(gate, self.faults), self._bucket_cors), "devstack-s3-gate")
        lambda_api = LambdaInvokeApi(invoke_fault=self._invoke_fault)
        self.lambda_endpoint = self._serve(lambda_api, "devstack-lambda")

        ingest = self._function(
            self.names.ingest_function,
            "handlers.ingest.app",
            contract.INGEST_FUNCTION_TIMEOUT_SECONDS,
            {contract.ENV_BUCKET_NAME: self.names.bucket},
            fault="ingest_run",
        )
        # Every function that can find a session ready delivers its trigger, under the same lease.
        processing = {
            contract.ENV_PROCESSING_EVENT_BUS_NAME: self.names.processing_bus,
            contract.ENV_INGEST_CLAIM_LEASE_SECONDS: str(self.claim_lease_seconds),
        }
        completion = self._function(
            self.names.completion_function,
            "handlers.upload_complete.app",
            contract.COMPLETION_FUNCTION_TIMEOUT_SECONDS,
            {
                contract.ENV_BUCKET_NAME: self.names.bucket,
                contract.ENV_SESSIONS_TABLE_NAME: self.names.table,
                contract.ENV_INGEST_FUNCTION_NAME: self.names.ingest_function,
                **processing,
            },
            fault="completion",
        )
        api = self._function(
            self.names.api_function,
            "handlers.api.app",
            contract.API_FUNCTION_TIMEOUT_SECONDS,
            {
                contract.ENV_BUCKET_NAME: self.names.bucket,
                contract.ENV_SESSIONS_TABLE_NAME: self.names.table,
                contract.ENV_URL_EXPIRES_SECONDS: str(self.url_expires_seconds),
                contract.ENV_MAX_AUDIO_BYTES: str(self.max_audio_bytes),
                contract.ENV_RETENTION_DAYS: str(contract.DEFAULT_RETENTION_DAYS),
                contract.ENV_MAX_FRAMES_BYTES: str(self.max_frames_bytes),
                **processing,
            },
        )
        # The sweeper heals lost events through the completion path: it needs the completion path's environment.
        self._sweeper = self._function(
            self.names.sweeper_function,
            "handlers.sweeper.app",
            contract.SWEEPER_FUNCTION_TIMEOUT_SECONDS,
            {
                contract.ENV_BUCKET_NAME: self.names.bucket,
                contract.ENV_SESSIONS_TABLE_NAME: self.names.table,
                contract.ENV_INGEST_FUNCTION_NAME: self.names.ingest_function,
                contract.ENV_COMPLETION_TIMEOUT_SECONDS: str(self.completion_timeout_seconds),
                **processing,
            },
            fault="sweep",
        )
        ingest_invoker = self._async(ingest)
        completion_invoker = self._async(
            completion, on_failure=lambda *failure: self._dead_letter(completion, self.dlq_url, *failure)
        )
        # As deployed: a failed sweep is not retried (the next scheduled run is the retry); it lands in its DLQ.
        sweeper_invoker = self._async(
            self._sweeper,
            on_failure=lambda *failure: self._dead_letter(self._sweeper, self.sweeper_dlq_url, *failure),
            retry_delays=(),
        )
        lambda_api.functions = {
            f.function.name: f for f in (ingest_invoker, completion_invoker, self._async(api), sweeper_invoker)
        }

        front = HttpApiCors(HttpApiFront(api, self._key.verify), self.cors_allowed_origins)
        self.api_url = self._serve(front, "devstack-http-api")
        if self.control:
            self.control_url = self._serve(
                ControlApi(self.faults, lambda: self._bucket_cors(self.names.bucket) or [], self._put_bucket_cors),
                "devstack-control",
            )
        self._relay = EventRelay(
            self._client("sqs"),
            self.events_queue_url,
            completion_invoker,
            self._stopping,
            duplicate=lambda: self.faults.take("duplicate_event"),
            drop=lambda: self.faults.take("drop_event"),
        )
        self._relay.start()
        self._capture = SessionReadyCapture(self._client("sqs"), self.session_ready_queue_url, self._stopping)
        self._capture.start()
        self.endpoints = {
            "apiUrl": self.api_url,
            "awsEndpoint": self.aws_endpoint,
            "s3Endpoint": self.s3_endpoint,
            "region": self.region,
            "bucket": self.names.bucket,
            "table": self.names.table,
            "dlqUrl": self.dlq_url,
            "sweeperDlqUrl": self.sweeper_dlq_url,
            "processingBus": self.names.processing_bus,
            "lambdaEndpoint": self.lambda_endpoint,
            "completionFunction": self.names.completion_function,
            "sweeperFunction": self.names.sweeper_function,
            "sweepSchedule": self.names.sweep_schedule,
            "token": self.token(DEV_USER),
            "corsAllowedOrigins": list(self.cors_allowed_origins),
        }
        self.endpoints |= {k: v for k, v in (("pageUrl", self.page_url), ("controlUrl", self.control_url)) if v}
        # Written whole, then renamed: whoever waits for the file (a test in another process) never reads half of it.
        partial = self.state_dir / f".{ENDPOINTS_FILE}.partial"
        partial.write_text(json.dumps(self.endpoints, indent=2) + "\n")
        partial.replace(self.state_dir / ENDPOINTS_FILE)

    def stop(self) -> None:
        """Stop every thread and server (ports freed); events still waiting for a retry are dropped."""
        self._stopping.set()
        for poller in (self._relay, self._capture):
            if poller is not None:
                poller.join()
        for invoker in self._invokers:
            invoker.join()
        # Together: each server notices a shutdown only at its next poll (every half second).
        stopping = [threading.Thread(target=server.stop) for server in self._servers]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()
        self._servers.clear()

    # -- the agreed API ----------------------------------------------------------------------------------------

    def token(self, user: str = DEV_USER, ttl_seconds: int | None = None) -> str:
        """A dev bearer token for `user`, signed by the stack's key."""
        return self._key.token(user) if ttl_seconds is None else self._key.token(user, ttl_seconds)

    def ingest_requests(self, session_id: str) -> list[dict]:
        """Every ingest request the ingest function recorded for the session (one per invocation), as it received
        it: `sessionId`, `userId`, `windowIndex`, `frameCount`, and the invocation's `requestId`."""
        records = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.names.bucket, Prefix=layout.ingest_records_prefix(session_id)):
            for obj in page.get("Contents", []):
                record = json.loads(self._s3.get_object(Bucket=self.names.bucket, Key=obj["Key"])["Body"].read())
                if record["sessionId"] == session_id:
                    records.append(record)
        return records

    def ingest_counts(self, session_id: str) -> dict[int, int]:
        """window -> number of distinct ingest invocations recorded by the ingest function for the session."""
        counts: dict[int, int] = {}
        for record in self.ingest_requests(session_id):
            counts[record["windowIndex"]] = counts.get(record["windowIndex"], 0) + 1
        return counts

    def dlq_messages(self, queue_url: str | None = None) -> list[dict]:
        """The records in the completion DLQ, or in the queue at `queue_url` (the sweeper's DLQ, say), in Lambda's
        on-failure format (the event is under `requestPayload`); left in it."""
        queue_url = queue_url or self.dlq_url
        records, receipts = [], []
        while True:
            batch = self._sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30)
            messages = batch.get("Messages", [])
            if not messages:
                break
            records += [json.loads(m["Body"]) for m in messages]
            receipts += [m["ReceiptHandle"] for m in messages]
        for start in range(0, len(receipts), 10):  # make them visible again: reading is not consuming
            self._sqs.change_message_visibility_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": 0}
                    for i, r in enumerate(receipts[start : start + 10])
                ],
            )
        return records

    def session_ready_events(self) -> list[dict]:
        """The detail of every SessionReady event the processing bus delivered so far, in order of arrival."""
        return self._capture.details()

    def sweep(self) -> dict:
        """One run of the sweeper, invoked as its schedule invokes it; the handler's report."""
        return self._sweeper.invoke(scheduled_event(self.names.sweep_schedule, self.region))

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Return once every S3 event was delivered (or dead-lettered) and every async invocation finished."""
        deadline = time.monotonic() + timeout
        while True:
            # The queue first: a message leaves it only after its invocation ended, and an ingest invoke is
            # counted before the completion invocation that made it ends.
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=self.events_queue_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            if not any(int(value) for value in attributes.values()) and not self._activity.busy:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"local stack still busy after {timeout} s: queue {attributes}")
            time.sleep(0.05)

    # -- parts -------------------------------------------------------------------------------------------------

    def _client(self, service: str) -> Any:
        return self._session.client(service, endpoint_url=self.aws_endpoint)

    def _provision(self) -> None:
        """The bucket, table and queues of the deployed stack, and the processing bus. The bucket notifies the
        relay's queue; the bus's SessionReady rule targets the capture queue, which stands in for processing."""
        names = self.names
        provision.create_bucket(self._s3, names.bucket, self.region)
        if self.cors_allowed_origins:  # as the program: no CORS configuration without an origin
            self._put_bucket_cors(cors.bucket_cors_rules(self.cors_allowed_origins))
        provision.create_sessions_table(self._client("dynamodb"), names.table)
        # An event stays in flight (invisible) through all its attempts: longer than the worst case of them.
        in_flight = int(sum(self.retry_delays) + 3 * contract.COMPLETION_FUNCTION_TIMEOUT_SECONDS + 60)
        self.events_queue_url = self._sqs.create_queue(
            QueueName=names.events_queue, Attributes={"VisibilityTimeout": str(in_flight)}
        )["QueueUrl"]
        self.dlq_url = self._sqs.create_queue(QueueName=names.dlq)["QueueUrl"]
        self.sweeper_dlq_url = self._sqs.create_queue(QueueName=names.sweeper_dlq)["QueueUrl"]
        provision.notify_queue_of_windows(self._s3, names.bucket, provision.queue_arn(self._sqs, self.events_queue_url))
        self.session_ready_queue_url = self._sqs.create_queue(QueueName=names.session_ready_queue)["QueueUrl"]
        provision.create_processing_bus(
            self._client("events"),
            names.processing_bus,
            names.session_ready_rule,
            provision.queue_arn(self._sqs, self.session_ready_queue_url),
        )

    def _serve(self, app: Any, name: str) -> str:
        server = WsgiServer(app, name)
        self._servers.append(server)
        return server.url

    def _environment(self, function_name: str, variables: dict[str, str]) -> dict[str, str]:
        """What Lambda sets, the function's own variables, and botocore's standard endpoint overrides."""
        return {
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.credentials.access_key,
            "AWS_SECRET_ACCESS_KEY": self.credentials.secret_key,
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(MEMORY_MB),
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "AWS_ENDPOINT_URL_S3": self.s3_endpoint,
            "AWS_ENDPOINT_URL_LAMBDA": self.lambda_endpoint,
            # No shared config or credentials files: a container has none, and a developer's must not leak in.
            "AWS_CONFIG_FILE": str(self.state_dir / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.state_dir / "no-aws-credentials"),
            "POWERTOOLS_SERVICE_NAME": function_name,
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon to send segments to
            **variables,
        }

    # Lambda's reserved concurrency of every function: how many warm instances (each a private load of the
    # handler module in the function's environment) run invocations at once. Set before start().
    function_concurrency: int = DEFAULT_CONCURRENCY

    def _function(
        self, name: str, module: str, timeout: float, variables: dict[str, str], fault: str | None = None
    ) -> Function:
        self.function_variables[module] = dict(variables)
        environment = self._environment(name, variables)
        return Function(
            name,
            lambda: load_handler_module(module, environment).lambda_handler,
            self.region,
            timeout,
            fault=(lambda: self.faults.take(fault)) if fault else (lambda: False),
            concurrency=self.function_concurrency,
        )

    def _async(
        self, function: Function, on_failure: Any = None, retry_delays: tuple[float, ...] | None = None
    ) -> AsyncInvoker:
        delays = self.retry_delays if retry_delays is None else retry_delays
        invoker = AsyncInvoker(function, delays, self._activity, self._stopping, on_failure)
        self._invokers.append(invoker)
        return invoker

    def _dead_letter(
        self, function: Function, queue_url: str, event: Any, request_id: str, error: BaseException, attempts: int
    ) -> None:
        record = failure_record(function.arn, event, request_id, error, attempts)
        self._sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))

    def _invoke_fault(self, function_name: str) -> bool:
        return function_name == self.names.ingest_function and self.faults.take("ingest_invoke")

    def _s3_clock(self) -> float:
        expired = contract.MAX_URL_EXPIRES_SECONDS + 1 if self.faults.take("s3_url_expired") else 0
        return time.time() + self.faults.s3_clock_skew_seconds + expired

    def _bucket_cors(self, bucket: str) -> list[dict] | None:
        """A bucket's CORS rules as S3 holds them (None: no CORS configuration, or no such bucket)."""
        try:
            return self._s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
        except ClientError:
            return None

    def _put_bucket_cors(self, rules: list[dict]) -> None:
        if rules:
            self._s3.put_bucket_cors(Bucket=self.names.bucket, CORSConfiguration={"CORSRules": rules})
        else:
            self._s3.delete_bucket_cors(Bucket=self.names.bucket)
