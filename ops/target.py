"""Which stack the tool works on, and its AWS clients: a deployed stack from `pulumi stack output --json` (a file,
stdin, or the Pulumi CLI run for a stack) with the operator's own credentials, or the local stack from its endpoints
file."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from handlers import contract
from ops.errors import UsageError

PROJECT_DIR = Path(__file__).resolve().parent.parent  # where Pulumi.yaml is: `pulumi stack output` runs there
LOCAL_ENDPOINTS = Path(".devstack") / "endpoints.json"  # written by `make dev` in the directory it started from
LOCAL_ACCOUNT = "123456789012"  # moto's account, which the local stack runs in

# Stack output -> what it is; every one is exported by __main__.py.
OUTPUTS = {
    "region": "the stack's region",
    "bucketName": "the session bucket",
    "bucketArn": "its ARN",
    "tableName": "the sessions table",
    "tableArn": "its ARN",
    "dlqUrl": "the completion DLQ",
    "dlqArn": "its ARN",
    "sweeperDlqUrl": "the sweeper's DLQ",
    "sweeperDlqArn": "its ARN",
    "completionFunctionName": "the completion function",
    "completionFunctionArn": "its ARN",
    "sweeperFunctionName": "the sweeper function",
    "sweeperFunctionArn": "its ARN",
}
# Endpoints file key -> what it is (devstack/stack.py writes them).
LOCAL_KEYS = ("region", "bucket", "table", "dlqUrl", "sweeperDlqUrl", "completionFunction", "sweeperFunction",
              "awsEndpoint", "lambdaEndpoint", "accessKeyId", "secretAccessKey")

COMPLETION, SWEEPER = "completion", "sweeper"
QUEUES = (COMPLETION, SWEEPER)
# How long a synchronous replay may take: the function's own timeout, and some.
INVOKE_READ_TIMEOUT = {COMPLETION: contract.COMPLETION_FUNCTION_TIMEOUT_SECONDS + 30,
                       SWEEPER: contract.SWEEPER_FUNCTION_TIMEOUT_SECONDS + 30}


@dataclass(frozen=True)
class Target:
    """One stack: its names and ARNs, and how to reach it."""

    description: str  # for messages: where the names came from
    region: str
    bucket: str
    table: str
    functions: dict[str, str]  # COMPLETION / SWEEPER -> function name
    dlqs: dict[str, str]  # COMPLETION / SWEEPER -> queue URL
    arns: dict[str, str]  # bucket, table, functions and queues: what `ops iam-policy` grants
    local_endpoints: dict[str, str] = field(default_factory=dict)  # service -> URL, for the local stack
    local_credentials: dict[str, str] = field(default_factory=dict)  # the local stack's operator's key
    profile: str | None = None

    @property
    def local(self) -> bool:
        return bool(self.local_endpoints)

    def session(self) -> Any:
        """A boto3 session: the operator's own credentials for a deployed stack (refused when there are none)."""
        import boto3
        from botocore.exceptions import BotoCoreError

        if self.local:
            return boto3.session.Session(region_name=self.region, **self.local_credentials)
        try:
            session = boto3.session.Session(profile_name=self.profile, region_name=self.region)
            credentials = session.get_credentials()
        except BotoCoreError as problem:  # an unknown profile, a broken config file
            raise UsageError(f"AWS configuration: {problem}") from None
        if credentials is None:
            raise UsageError(
                "no AWS credentials: configure the operator's own as for the AWS CLI (AWS_PROFILE or --profile, "
                "aws sso login, aws configure, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
            )
        return session

    def endpoint(self, service: str) -> str | None:
        if not self.local:
            return None
        return self.local_endpoints.get(service, self.local_endpoints["aws"])


def from_outputs(text: str, source: str, profile: str | None = None) -> Target:
    """A deployed stack from the text of `pulumi stack output --json`."""
    try:
        outputs = json.loads(text)
    except ValueError as problem:
        raise UsageError(f"{source} is not `pulumi stack output --json`: {problem}") from None
    if not isinstance(outputs, dict):
        raise UsageError(f"{source} is not `pulumi stack output --json`: not a JSON object")
    missing = [name for name in OUTPUTS if not isinstance(outputs.get(name), str) or not outputs[name]]
    if missing:
        raise UsageError(f"{source} is not the outputs of a session-uploads stack deployed with the operator outputs: "
                         f"missing {', '.join(missing)}")
    return Target(
        description=source,
        region=outputs["region"],
        bucket=outputs["bucketName"],
        table=outputs["tableName"],
        functions={COMPLETION: outputs["completionFunctionName"], SWEEPER: outputs["sweeperFunctionName"]},
        dlqs={COMPLETION: outputs["dlqUrl"], SWEEPER: outputs["sweeperDlqUrl"]},
        arns={"bucket": outputs["bucketArn"], "table": outputs["tableArn"],
              COMPLETION: outputs["completionFunctionArn"], SWEEPER: outputs["sweeperFunctionArn"],
              f"{COMPLETION}Dlq": outputs["dlqArn"], f"{SWEEPER}Dlq": outputs["sweeperDlqArn"]},
        profile=profile,
    )


def from_outputs_file(path: str, stdin: TextIO, profile: str | None = None) -> Target:
    if path == "-":
        return from_outputs(stdin.read(), "the outputs on stdin", profile)
    try:
        text = Path(path).read_text()
    except OSError as problem:
        raise UsageError(f"cannot read the outputs file {path}: {problem.strerror or problem}") from None
    return from_outputs(text, path, profile)


def from_pulumi(stack: str, profile: str | None = None) -> Target:
    """Run `pulumi stack output --json --stack STACK` in the project's directory."""
    command = ["pulumi", "stack", "output", "--json", "--stack", stack]
    try:
        done = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120, check=False)
    except FileNotFoundError:
        raise UsageError("no Pulumi CLI on this machine: pass --outputs FILE (`pulumi stack output --json > FILE` "
                         "where it is installed)") from None
    except subprocess.TimeoutExpired:
        raise UsageError(f"`{' '.join(command)}` did not answer in 120 s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise UsageError(f"`{' '.join(command)}` failed: {last}")
    return from_outputs(done.stdout, f"the outputs of stack {stack}", profile)


def from_local(path: Path) -> Target:
    """The local stack from its endpoints file."""
    try:
        endpoints = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UsageError(f"no local stack's endpoints at {path}: start one with `make dev`, or name a deployed stack "
                         "(--outputs FILE or --stack NAME)") from None
    except (OSError, ValueError) as problem:
        raise UsageError(f"cannot read the local stack's endpoints {path}: {problem}") from None
    if not isinstance(endpoints, dict):
        raise UsageError(f"cannot read the local stack's endpoints {path}: not a JSON object")
    missing = [key for key in LOCAL_KEYS if not isinstance(endpoints.get(key), str) or not endpoints[key]]
    if missing:
        raise UsageError(f"{path} is not a running local stack's endpoints file (missing {', '.join(missing)}): "
                         "restart it with `make dev`")
    region, account = endpoints["region"], LOCAL_ACCOUNT
    functions = {COMPLETION: endpoints["completionFunction"], SWEEPER: endpoints["sweeperFunction"]}
    dlqs = {COMPLETION: endpoints["dlqUrl"], SWEEPER: endpoints["sweeperDlqUrl"]}
    return Target(
        description=f"the local stack ({path})",
        region=region,
        bucket=endpoints["bucket"],
        table=endpoints["table"],
        functions=functions,
        dlqs=dlqs,
        arns={"bucket": f"arn:aws:s3:::{endpoints['bucket']}",
              "table": f"arn:aws:dynamodb:{region}:{account}:table/{endpoints['table']}",
              **{name: f"arn:aws:lambda:{region}:{account}:function:{fn}" for name, fn in functions.items()},
              **{f"{name}Dlq": f"arn:aws:sqs:{region}:{account}:{url.rstrip('/').rsplit('/', 1)[-1]}"
                 for name, url in dlqs.items()}},
        local_endpoints={"aws": endpoints["awsEndpoint"], "lambda": endpoints["lambdaEndpoint"]},
        # The local stack enforces IAM: its operator is an IAM user allowed everything. Never the operator's real
        # credentials: the local stack must not be sent them.
        local_credentials={"aws_access_key_id": endpoints["accessKeyId"],
                           "aws_secret_access_key": endpoints["secretAccessKey"]},
    )


def resolve(*, outputs: str | None, stack: str | None, local: str | None, profile: str | None,
            stdin: TextIO) -> Target:
    """The stack named by exactly one of --outputs, --stack, --local; none: the local stack, if one is running here."""
    chosen = [flag for flag, value in (("--outputs", outputs), ("--stack", stack), ("--local", local)) if value]
    if len(chosen) > 1:
        raise UsageError(f"name one stack: {' and '.join(chosen)} were both given")
    if outputs:
        return from_outputs_file(outputs, stdin, profile)
    if stack:
        return from_pulumi(stack, profile)
    return from_local(Path(local) if local else LOCAL_ENDPOINTS)
