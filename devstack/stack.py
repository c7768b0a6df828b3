"""DevStack: the deployed pipeline on 127.0.0.1, its handlers unchanged (each instance a process of its own), moto
behind them."""

from __future__ import annotations

import gc
import json
import logging
import os
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import boto3
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from werkzeug.exceptions import NotFound
from werkzeug.middleware.shared_data import SharedDataMiddleware

from devstack import iam
from devstack.capture import SessionReadyCapture
from devstack.control import ControlApi
from devstack.cors import HttpApiCors, S3Cors
from devstack.deploy import STACK, AsyncConfig, Deployment, Edit, FunctionSpec, deploy
from devstack.faults import FailingPuts, Faults
from devstack.front import HttpApiFront
from devstack.gate import PresignGate
from devstack.instances import ProcessInstance
from devstack.lambda_api import LambdaInvokeApi
from devstack.relay import EventRelay, failure_record
from devstack.runtime import DEFAULT_CONCURRENCY, Activity, AsyncInvoker, Function
from devstack.schedule import scheduled_event
from devstack.servers import MotoServer, WsgiServer
from devstack.tokens import DEFAULT_STATE_DIR, DEV_USER, ENDPOINTS_FILE, DevKey
from handlers import contract, layout

log = logging.getLogger("devstack")

DEFAULT_REGION = "eu-west-1"


# Durations the tests compress below what the program's config can say (minutes, or not configurable): set over the
# program's own variables, only where the program deploys them. Everything else a function reads is the program's.
COMPRESSIBLE = (contract.ENV_INGEST_CLAIM_LEASE_SECONDS, contract.ENV_FINALIZING_TIMEOUT_SECONDS)
# The local stand-in for processing: every SessionReady on the program's bus, to a queue the capture drains.
SESSION_READY_PATTERN = {
    "source": [contract.PROCESSING_EVENT_SOURCE],
    "detail-type": [contract.PROCESSING_EVENT_DETAIL_TYPE],
}
OPERATOR = "devstack-operator"  # the IAM user the harness, the gate's forwarding and the relay call moto as


@dataclass(frozen=True)
class Names:
    """The deployed resources' names, as the program named them (auto-names end with a random suffix)."""

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


class DevStack:
    """Start with `with DevStack() as stack:` (or start()/stop()). Options: `retry_delays` between Lambda's
    async attempts, `claim_lease_seconds` (INGEST_CLAIM_LEASE_SECONDS, also the processing trigger's lease),
    `finalizing_timeout_seconds` (FINALIZING_TIMEOUT_SECONDS, the sweeper's), `url_expires_seconds`, `state_dir`;
    `event_transport` (the program's eventTransport: notification or eventbridge); `program_edit` (devstack.deploy's
    Edit: a resource's inputs changed before it is created); `function_concurrency` (warm instances per function);
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
        finalizing_timeout_seconds: int = contract.DEFAULT_FINALIZING_TIMEOUT_SECONDS,
        region: str = DEFAULT_REGION,
        state_dir: Path | str = DEFAULT_STATE_DIR,
        cors_allowed_origins: Sequence[str] = (),
        static_dir: Path | str | None = None,
        control: bool = False,
        event_transport: contract.EventTransport = contract.EventTransport.NOTIFICATION,
        program_edit: Edit | None = None,
        function_concurrency: int = DEFAULT_CONCURRENCY,
    ):
        self.retry_delays = tuple(retry_delays)
        # Each function's environment as deployed (the stack's endpoints and credentials aside), by handler module.
        self.function_variables: dict[str, dict[str, str]] = {}
        self.claim_lease_seconds = claim_lease_seconds
        self.url_expires_seconds = url_expires_seconds
        self.max_audio_bytes = max_audio_bytes
        self.max_frames_bytes = max_frames_bytes
        self.finalizing_timeout_seconds = finalizing_timeout_seconds
        self.region = region
        self.state_dir = Path(state_dir)
        self.cors_allowed_origins = tuple(cors_allowed_origins)
        self.static_dir = Path(static_dir) if static_dir is not None else None
        self.control = control
        self.event_transport = event_transport
        self._program_edit = program_edit
        # Lambda's reserved concurrency of every function: how many warm instances (each a process of its own, with
        # the handler module loaded in the function's environment) run invocations at once.
        self.function_concurrency = function_concurrency
        self.page_url: str | None = None
        self.control_url: str | None = None
        self.faults = Faults()
        self.deployment: Deployment | None = None
        # Each function's calls (IAM action, ARN), by function name: devstack/iam.py checks them against its policy.
        self.calls: dict[str, iam.CallRecorder] = {}
        self._function_credentials: dict[str, Credentials] = {}  # by function name: its role's session
        self._activity = Activity()
        self._stopping = threading.Event()
        self._servers: list[Any] = []
        self._moto: MotoServer | None = None
        self._invokers: list[AsyncInvoker] = []
        self._functions: list[Function] = []
        self._relay: EventRelay | None = None
        self._capture: SessionReadyCapture | None = None
        self.endpoints: dict[str, str] = {}

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def __enter__(self) -> DevStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> DevStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _config(self) -> dict[str, str]:
        """The local stack's options, as the program's config over the stack file's."""
        return {
            "aws:region": self.region,
            "urlExpiresSeconds": str(self.url_expires_seconds),
            "maxAudioBytes": str(self.max_audio_bytes),
            "maxFramesBytes": str(self.max_frames_bytes),
            "corsAllowedOrigins": json.dumps(list(self.cors_allowed_origins)),
            "eventTransport": self.event_transport,
        }

    def _start(self) -> None:
        self._key = DevKey.load_or_create(self.state_dir)
        self._moto = MotoServer()
        self._moto.start()
        self.aws_endpoint = self._moto.url
        if self.static_dir is not None:
            # First, so that its origin (a free port) is in the program's CORS rules.
            pages = SharedDataMiddleware(NotFound(), {"/": str(self.static_dir.resolve())}, cache=False)
            self.page_url = self._serve(pages, "devstack-pages")
            self.cors_allowed_origins += (self.page_url,)
        # Until IAM is enforced, any credentials do: the program is deployed, the operator and the roles' sessions made.
        self._session = boto3.session.Session("bootstrap", "bootstrap", region_name=self.region)
        self._sqs = self.client("sqs")
        # A message is in flight only from its receive to its batch's delete, right after the submits (devstack/relay.py):
        # SQS's default visibility timeout covers that.
        self.events_queue_url, events_queue_arn = self._queue(f"devstack-s3-events-{secrets.token_hex(4)}")
        self.deployment = deploy(STACK, self._config(), self._session, self.aws_endpoint, events_queue_arn,
                                 self._program_edit)
        self._deploy_session_ready_capture()
        self._sign_in()
        self._moto.enforce_iam()

        deployment = self.deployment
        outputs = deployment.outputs
        completion = deployment.function(next(iter(deployment.event_functions)))
        sweeper = deployment.function(next(iter(deployment.schedules.values())))
        api = deployment.function(deployment.api_function)
        ingest = deployment.function(completion.environment[contract.ENV_INGEST_FUNCTION_NAME])
        self.dlq_url = outputs["dlqUrl"]
        self.sweeper_dlq_url = outputs["sweeperDlqUrl"]
        self.names = Names(
            bucket=outputs["bucketName"],
            table=outputs["tableName"],
            api_function=api.name,
            completion_function=completion.name,
            ingest_function=ingest.name,
            events_queue=self.events_queue_url.rsplit("/", 1)[-1],
            dlq=self.dlq_url.rsplit("/", 1)[-1],
            sweeper_function=sweeper.name,
            sweeper_dlq=self.sweeper_dlq_url.rsplit("/", 1)[-1],
            sweep_schedule=next(iter(deployment.schedules)),
            processing_bus=outputs["processingEventBusName"],
            session_ready_rule=self._session_ready_rule,
            session_ready_queue=self.session_ready_queue_url.rsplit("/", 1)[-1],
        )

        gate = PresignGate(self.aws_endpoint, self._signer, self.region, self.credentials, clock=self._s3_clock)
        self.s3_endpoint = self._serve(S3Cors(FailingPuts(gate, self.faults), self._bucket_cors), "devstack-s3-gate")
        lambda_api = LambdaInvokeApi(invoke_fault=self._invoke_fault, allowed=self._allowed)
        self.lambda_endpoint = self._serve(lambda_api, "devstack-lambda")

        faults = {ingest.name: "ingest_run", completion.name: "completion", sweeper.name: "sweep"}
        functions = {spec.name: self._function(spec, faults.get(spec.name)) for spec in (ingest, completion, api, sweeper)}
        invokers = {name: self._async(function) for name, function in functions.items()}
        lambda_api.functions = invokers
        self._sweeper = functions[sweeper.name]

        front = HttpApiCors(
            HttpApiFront(functions[api.name], self._verify, deployment.routes), self.cors_allowed_origins
        )
        self.api_url = self._serve(front, "devstack-http-api")
        if self.control:
            self.control_url = self._serve(
                ControlApi(self.faults, lambda: self._bucket_cors(self.names.bucket) or [], self._put_bucket_cors),
                "devstack-control",
            )
        self._relay = EventRelay(
            self.client("sqs"),
            self.events_queue_url,
            invokers[completion.name],
            self._stopping,
            duplicate=lambda: self.faults.take("duplicate_event"),
            drop=lambda: self.faults.take("drop_event"),
        )
        self._relay.start()
        self._capture = SessionReadyCapture(self.client("sqs"), self.session_ready_queue_url, self._stopping)
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
            "eventTransport": self.event_transport,
            "jwtIssuer": deployment.jwt_issuer,
            "jwtAudience": deployment.jwt_audiences[0],
            "accessKeyId": self.credentials.access_key,
            "secretAccessKey": self.credentials.secret_key,
        }
        self.endpoints |= {k: v for k, v in (("pageUrl", self.page_url), ("controlUrl", self.control_url)) if v}
        # What the process holds now (the program's and moto's modules, every instance's clients and models: a
        # million objects and more) lives as long as the stack. Frozen, the collector's full collections no longer
        # walk it: in `make test`'s pytest run, each worker spent 9 to 14 s in 28 to 41 of them, about 350 ms apiece,
        # and 3 to 6 s after this. Nothing is unfrozen at stop (that would give it all back to the collector while
        # other stacks of the process run): what a stopped stack leaves in reference cycles stays, about 17 MB a start.
        gc.freeze()
        # Written whole, then renamed: whoever waits for the file (a test in another process) never reads half of it.
        partial = self.state_dir / f".{ENDPOINTS_FILE}.partial"
        partial.write_text(json.dumps(self.endpoints, indent=2) + "\n")
        partial.replace(self.state_dir / ENDPOINTS_FILE)

    def stop(self) -> None:
        """Stop every thread and server (ports freed); events still waiting for a retry are dropped."""
        self._stopping.set()
        for poller in (self._relay, self._capture):
            if poller is not None:
                poller.stop()
        for invoker in self._invokers:
            invoker.join()
        # Together: each server notices a shutdown only at its next poll (every 0.05 s).
        stopping = [threading.Thread(target=server.stop) for server in self._servers]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()
        self._servers.clear()
        for function in self._functions:
            function.close()
        if self._moto is not None:
            self._record_calls()
            self._moto.stop()
            self._moto = None

    def _record_calls(self) -> None:
        """With DEVSTACK_IAM_CALLS=DIR (make iam-report), this stack's functions' policies and calls, for the report."""
        directory = os.environ.get("DEVSTACK_IAM_CALLS")
        # A doctored program (a test's, with a grant taken out) is not the program: its calls prove nothing of it.
        if directory and self.deployment is not None and self.calls and self._program_edit is None:
            policies = {spec.resource: self.deployment.policies[spec.role_name]
                        for spec in self.deployment.functions.values()}
            calls = {spec.resource: self.calls[spec.name].calls
                     for spec in self.deployment.functions.values() if spec.name in self.calls}
            iam.write_record(Path(directory), secrets.token_hex(8), {k: policies[k] for k in calls}, calls)

    # -- the agreed API ----------------------------------------------------------------------------------------

    def token(self, user: str = DEV_USER, ttl_seconds: int | None = None) -> str:
        """A dev bearer token for `user`, signed by the stack's key, of the issuer and audience the program's JWT
        authorizer accepts."""
        ttl = {} if ttl_seconds is None else {"ttl_seconds": ttl_seconds}
        return self._key.token(user, issuer=self.deployment.jwt_issuer, audience=self.deployment.jwt_audiences[0], **ttl)

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
        """window -> number of distinct ingest invocations recorded by the ingest function for the session: one
        object per invocation, named by its window and request id, so the bucket's listing alone counts them."""
        counts: Counter[int] = Counter()
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.names.bucket, Prefix=layout.ingest_records_prefix(session_id)):
            windows = (layout.ingest_record_window(session_id, obj["Key"]) for obj in page.get("Contents", []))
            counts.update(window for window in windows if window is not None)
        return dict(counts)

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
            queue = None  # asked only when nothing is in flight: moto scans the whole queue to answer
            if not self._activity.busy:
                # The queue, then the work in flight again: a message leaves the queue only once its event is
                # counted in flight, and an ingest invoke is counted before the completion invocation that made it
                # ends.
                queue = self._sqs.get_queue_attributes(
                    QueueUrl=self.events_queue_url,
                    AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                )["Attributes"]
                if not any(int(value) for value in queue.values()) and not self._activity.busy:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"local stack still busy after {timeout} s (queue: {queue or 'not asked'})")
            time.sleep(0.05)

    # -- parts -------------------------------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        """A boto3 client of the stack's AWS as its operator, an IAM user allowed everything: moto, or for Lambda the
        stack's Invoke endpoint."""
        endpoint = self.lambda_endpoint if service == "lambda" else self.aws_endpoint
        return self._session.client(service, endpoint_url=endpoint)

    def _queue(self, name: str, attributes: dict[str, str] | None = None) -> tuple[str, str]:
        """A queue of the local stack's own: its URL and ARN."""
        url = self._sqs.create_queue(QueueName=name, Attributes=attributes or {})["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    def _deploy_session_ready_capture(self) -> None:
        """What stands for processing: a rule on the program's bus sending every SessionReady to a queue."""
        suffix = secrets.token_hex(4)
        self.session_ready_queue_url, queue_arn = self._queue(f"devstack-session-ready-{suffix}")
        self._session_ready_rule = f"devstack-session-ready-{suffix}"
        events, bus = self.client("events"), self.deployment.outputs["processingEventBusName"]
        events.put_rule(Name=self._session_ready_rule, EventBusName=bus, EventPattern=json.dumps(SESSION_READY_PATTERN))
        events.put_targets(Rule=self._session_ready_rule, EventBusName=bus,
                           Targets=[{"Id": "session-ready-capture", "Arn": queue_arn}])

    def _sign_in(self) -> None:
        """Each function's session of its own role, as Lambda gives it; and the operator, allowed everything, whom
        the harness, the gate's forwarding, the relay and the capture call moto as."""
        sts, iam_client = self.client("sts"), self.client("iam")
        for spec in self.deployment.functions.values():
            session = sts.assume_role(RoleArn=spec.role_arn, RoleSessionName=spec.name[:64])["Credentials"]
            self._function_credentials[spec.name] = Credentials(
                session["AccessKeyId"], session["SecretAccessKey"], session["SessionToken"])
        iam_client.create_user(UserName=OPERATOR)
        iam_client.put_user_policy(UserName=OPERATOR, PolicyName="everything", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        key = iam_client.create_access_key(UserName=OPERATOR)["AccessKey"]
        self.credentials = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
        self._session = boto3.session.Session(key["AccessKeyId"], key["SecretAccessKey"], region_name=self.region)
        self._s3 = self.client("s3")
        self._sqs = self.client("sqs")

    def _function_of_key(self, access_key: str) -> FunctionSpec | None:
        for name, credentials in self._function_credentials.items():
            if credentials.access_key == access_key:
                return self.deployment.functions[name]
        return None

    def _signer(self, access_key: str) -> tuple[Credentials, Callable[[str, str], bool]] | None:
        """For the presign gate: the credentials of the function (or the operator) whose key signed a URL, and its
        policy's verdict."""
        if access_key == self.credentials.access_key:  # the operator, allowed everything
            return self.credentials, lambda action, resource: True
        spec = self._function_of_key(access_key)
        if spec is None:
            return None
        credentials = self._function_credentials[spec.name]
        policy, recorder = self.deployment.policies[spec.role_name], self.calls[spec.name]

        def allows(action: str, resource: str) -> bool:  # the URL is used: a call of its signer's
            recorder.record(iam.Call(action, resource))
            return iam.allows(policy, action, resource)

        return Credentials(credentials.access_key, credentials.secret_key), allows

    def _allowed(self, access_key: str, action: str, resource: str) -> bool:
        """For the local Lambda API: whether the caller (a function's key, or the operator's) may do `action`."""
        if access_key == self.credentials.access_key:
            return True
        spec = self._function_of_key(access_key)
        return spec is not None and iam.allows(self.deployment.policies[spec.role_name], action, resource)

    def _verify(self, authorization: str | None) -> dict[str, Any] | None:
        return self._key.verify(authorization, self.deployment.jwt_issuer, self.deployment.jwt_audiences)

    def _serve(self, app: Any, name: str) -> str:
        server = WsgiServer(app, name)
        self._servers.append(server)
        return server.url

    def _environment(self, spec: FunctionSpec) -> dict[str, str]:
        """What Lambda sets (the role's session among it), the function's environment as the program deploys it (with
        the compressed durations over it), and botocore's standard endpoint overrides."""
        credentials = self._function_credentials[spec.name]
        compressed = {contract.ENV_INGEST_CLAIM_LEASE_SECONDS: str(self.claim_lease_seconds),
                      contract.ENV_FINALIZING_TIMEOUT_SECONDS: str(self.finalizing_timeout_seconds)}
        variables = {**spec.environment,
                     **{name: value for name, value in compressed.items() if name in spec.environment}}
        self.function_variables[spec.module] = dict(variables)
        return {
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": credentials.access_key,
            "AWS_SECRET_ACCESS_KEY": credentials.secret_key,
            "AWS_SESSION_TOKEN": credentials.token,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "AWS_ENDPOINT_URL_S3": self.s3_endpoint,
            "AWS_ENDPOINT_URL_LAMBDA": self.lambda_endpoint,
            # No shared config or credentials files: a container has none, and a developer's must not leak in.
            "AWS_CONFIG_FILE": str(self.state_dir / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.state_dir / "no-aws-credentials"),
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon to send segments to
            **variables,
        }

    def _function(self, spec: FunctionSpec, fault: str | None) -> Function:
        """The function's instances (up to `function_concurrency`), each a process of its own with the handler loaded
        in the function's environment, every one's calls recorded for devstack/iam.py; one started now, so that a
        handler that cannot load fails the stack's start, and the others on demand, as Lambda starts them."""
        recorder = self.calls[spec.name] = iam.CallRecorder(self.region)
        environment = self._environment(spec)
        function = Function(
            spec.name,
            lambda: ProcessInstance(spec.handler, environment, self.region, recorder),
            self.region,
            spec.timeout_seconds,
            fault=(lambda: self.faults.take(fault)) if fault else (lambda: False),
            concurrency=self.function_concurrency,
            memory_mb=spec.memory_mb,
        )
        self._functions.append(function)
        return function

    def _async(self, function: Function) -> AsyncInvoker:
        """Lambda's async invocation of `function`, with the program's retries (Lambda's default: 2) and on-failure
        destination; the stack's `retry_delays` between attempts."""
        config = self.deployment.async_configs.get(function.name, AsyncConfig(retries=2, on_failure=None))
        delays = tuple(self.retry_delays[min(i, len(self.retry_delays) - 1)] for i in range(config.retries))
        on_failure = partial(self._dead_letter, function, config.on_failure) if config.on_failure else None
        invoker = AsyncInvoker(function, delays, self._activity, self._stopping, on_failure)
        self._invokers.append(invoker)
        return invoker

    def _dead_letter(
        self, function: Function, queue_arn: str, event: Any, request_id: str, error: BaseException, attempts: int
    ) -> None:
        """Lambda sends the failure record to the destination with the function's role, as this does."""
        credentials = self._function_credentials[function.name]
        sqs = boto3.session.Session(credentials.access_key, credentials.secret_key, credentials.token,
                                    region_name=self.region).client("sqs", endpoint_url=self.aws_endpoint)
        self.calls[function.name].attach(sqs.meta.events)
        _, _, _, region, account, name = queue_arn.split(":")
        queue_url = f"{self.aws_endpoint}/{account}/{name}"
        record = failure_record(function.arn, event, request_id, error, attempts)
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))

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
