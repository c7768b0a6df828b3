"""Run `__main__.py` as `pulumi up` would, under mocks, and return every resource it registered."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import runpy
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks, rpc
from pulumi.runtime.settings import SETTINGS, get_root_resource, set_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

PROJECT_DIR = Path(__file__).resolve().parent.parent
ACCOUNT_ID = "123456789012"


@dataclass(frozen=True)
class RegisteredResource:
    """One resource as the engine would have seen it: inputs are camelCase, numbers are floats."""

    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    parent: str | None
    dependencies: tuple[str, ...]
    provider: str | None
    custom: bool


@dataclass(frozen=True)
class ProgramRun:
    stack: str
    project: str
    config: dict[str, str]
    resources: tuple[RegisteredResource, ...]
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_token: str) -> list[RegisteredResource]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> RegisteredResource:
        found = [r for r in self.of_type(type_token) if name is None or r.name == name]
        if len(found) != 1:
            raise LookupError(f"expected one {type_token} {name or ''}, found {[r.name for r in found]}")
        return found[0]

    def by_urn(self, urn: str) -> RegisteredResource:
        return next(r for r in self.resources if r.urn == urn)


def _project_name() -> str:
    return yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["name"]


def stack_config(stack: str, project: str) -> dict[str, str]:
    """The stack file's config as the engine passes it: fully qualified keys, string values (JSON for objects)."""
    raw = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text()) or {}
    config = {}
    for key, value in (raw.get("config") or {}).items():
        qualified = key if ":" in key else f"{project}:{key}"
        config[qualified] = value if isinstance(value, str) else json.dumps(value)
    return config


def _region(config: dict[str, str]) -> str:
    return config.get("aws:region", "us-east-1")


def _policy_json(statements: list[dict]) -> str:
    """Render `aws.iam.getPolicyDocument` as the provider does (single values collapse to strings)."""

    def one_or_many(values: list) -> Any:
        values = sorted(set(values)) if len(values) > 1 else values
        return values[0] if len(values) == 1 else values

    rendered = []
    for s in statements:
        out: dict[str, Any] = {}
        if s.get("sid"):
            out["Sid"] = s["sid"]
        out["Effect"] = s.get("effect", "Allow")
        for key, name in (("actions", "Action"), ("notActions", "NotAction"),
                          ("resources", "Resource"), ("notResources", "NotResource")):
            if s.get(key):
                out[name] = one_or_many(list(s[key]))
        for key, name in (("principals", "Principal"), ("notPrincipals", "NotPrincipal")):
            if s.get(key):
                out[name] = {p["type"]: one_or_many(list(p["identifiers"])) for p in s[key]}
        if s.get("conditions"):
            cond: dict[str, dict[str, Any]] = {}
            for c in s["conditions"]:
                cond.setdefault(c["test"], {})[c["variable"]] = one_or_many(list(c["values"]))
            out["Condition"] = cond
        rendered.append(out)
    return json.dumps({"Version": "2012-10-17", "Statement": rendered}, indent=2)


class ShapedOutputs(pulumi.runtime.Mocks):
    """Outputs shaped like the real ones (names, ARNs, URLs), so the program's wiring is visible in inputs."""

    def __init__(self, region: str, suffix: str = "mock"):
        self.region = region
        self.suffix = suffix  # what auto-names end with (Pulumi appends a random one)

    def call(self, args: mocks.MockCallArgs):
        if args.token == "aws:iam/getPolicyDocument:getPolicyDocument":
            return {"id": "policy", "json": _policy_json(args.args.get("statements") or [])}
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/mock", "id": ACCOUNT_ID,
                    "userId": "mock"}
        if args.token == "aws:index/getRegion:getRegion":
            return {"id": self.region, "name": self.region, "region": self.region}
        if args.token == "aws:index/getPartition:getPartition":
            return {"id": "aws", "partition": "aws", "dnsSuffix": "amazonaws.com"}
        return {}

    def new_resource(self, args: mocks.MockResourceArgs):
        inputs, name, r, a = dict(args.inputs), args.name, self.region, ACCOUNT_ID
        physical = inputs.get("name") or f"{name}-{self.suffix}"
        service = args.typ.split(":")[1].split("/")[0]
        outputs: dict[str, Any] = {"name": physical, "arn": f"arn:aws:{service}:{r}:{a}:{physical}"}
        typ = args.typ
        if typ == "aws:s3/bucket:Bucket":
            bucket = inputs.get("bucket") or f"{name}-{self.suffix}"
            outputs = {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}", "region": r,
                       "bucketRegionalDomainName": f"{bucket}.s3.{r}.amazonaws.com"}
            physical = bucket
        elif typ == "aws:dynamodb/table:Table":
            outputs["arn"] = f"arn:aws:dynamodb:{r}:{a}:table/{physical}"
        elif typ == "aws:lambda/function:Function":
            arn = f"arn:aws:lambda:{r}:{a}:function:{physical}"
            version = "1" if inputs.get("publish") else "$LATEST"  # a published function's first version
            outputs.update(arn=arn, qualifiedArn=f"{arn}:{version}", version=version,
                           invokeArn=f"arn:aws:apigateway:{r}:lambda:path/2015-03-31/functions/{arn}/invocations")
        elif typ == "aws:lambda/alias:Alias":
            function_arn = f"arn:aws:lambda:{r}:{a}:function:{inputs['functionName']}"
            arn = f"{function_arn}:{physical}"
            outputs.update(arn=arn,
                           invokeArn=f"arn:aws:apigateway:{r}:lambda:path/2015-03-31/functions/{arn}/invocations")
        elif typ == "aws:lambda/layerVersion:LayerVersion":
            layer_arn = f"arn:aws:lambda:{r}:{a}:layer:{inputs['layerName']}"
            outputs.update(arn=f"{layer_arn}:1", layerArn=layer_arn, version="1",
                           codeSha256=inputs.get("sourceCodeHash"))
        elif typ == "aws:sqs/queue:Queue":
            outputs.update(arn=f"arn:aws:sqs:{r}:{a}:{physical}", url=f"https://sqs.{r}.amazonaws.com/{a}/{physical}")
        elif typ == "aws:iam/role:Role":
            outputs.update(arn=f"arn:aws:iam::{a}:role/{physical}", uniqueId=f"AROA{name.upper()}")
        elif typ == "aws:sns/topic:Topic":
            outputs["arn"] = f"arn:aws:sns:{r}:{a}:{physical}"
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            outputs["arn"] = f"arn:aws:logs:{r}:{a}:log-group:{physical}"
        elif typ == "aws:cloudwatch/eventRule:EventRule":
            bus = inputs.get("eventBusName", "default")
            outputs["arn"] = f"arn:aws:events:{r}:{a}:rule/{physical}" if bus == "default" else \
                f"arn:aws:events:{r}:{a}:rule/{bus}/{physical}"
        elif typ == "aws:cloudwatch/eventBus:EventBus":
            outputs["arn"] = f"arn:aws:events:{r}:{a}:event-bus/{physical}"
        elif typ == "aws:apigatewayv2/api:Api":
            api_id = f"{name}-id"
            outputs.update(id=api_id, apiEndpoint=f"https://{api_id}.execute-api.{r}.amazonaws.com",
                           executionArn=f"arn:aws:execute-api:{r}:{a}:{api_id}")
        elif typ == "aws:apigatewayv2/stage:Stage":
            stage = inputs.get("name", "$default")
            suffix = "" if stage == "$default" else stage
            outputs["invokeUrl"] = f"https://{inputs.get('apiId', 'api')}.execute-api.{r}.amazonaws.com/{suffix}"
        elif typ == "aws:cognito/userPool:UserPool":
            pool_id = f"{r}_{name.replace('-', '')}"  # a pool id is <region>_<suffix>
            outputs.update(id=pool_id, arn=f"arn:aws:cognito-idp:{r}:{a}:userpool/{pool_id}",
                           endpoint=f"cognito-idp.{r}.amazonaws.com/{pool_id}")
        elif typ == "aws:sfn/stateMachine:StateMachine":
            outputs["arn"] = f"arn:aws:states:{r}:{a}:stateMachine:{physical}"
        resource_id = outputs.pop("id", None) or f"{physical}-id"
        return resource_id, {**inputs, **outputs}


class _RecordingMonitor(mocks.MockMonitor):
    """The mock monitor, also keeping what MockResourceArgs drops: parent, dependencies, provider."""

    def __init__(self, mocks_: ShapedOutputs):
        super().__init__(mocks_)
        self.registered: list[RegisteredResource] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            _ensure_event_loop()
            self.registered.append(
                RegisteredResource(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    inputs=rpc.deserialize_properties(request.object),
                    parent=request.parent or None,
                    dependencies=tuple(request.dependencies),
                    provider=request.provider or None,
                    custom=bool(request.custom),
                )
            )
        return response


@contextlib.contextmanager
def _in_project_dir():
    """Pulumi runs the program from the project directory, with that directory importable."""
    previous_cwd, added = os.getcwd(), str(PROJECT_DIR) not in sys.path
    os.chdir(PROJECT_DIR)
    if added:
        sys.path.insert(0, str(PROJECT_DIR))
    try:
        yield
    finally:
        os.chdir(previous_cwd)
        if added:
            sys.path.remove(str(PROJECT_DIR))


def run_program(stack: str, config_overrides: dict[str, str] | None = None,
                backend: Callable[[str], ShapedOutputs] = ShapedOutputs) -> ProgramRun:
    """Run the program for `stack` (config from Pulumi.<stack>.yaml, then `config_overrides`) under mocks: by
    default outputs shaped like AWS's; `backend(region)` may create each resource somewhere (devstack/deploy.py).

    Override keys may be bare (`retentionDays`, meaning the project's namespace) or qualified (`aws:region`).
    Errors the program raises (a config error, say) propagate as they would fail `pulumi up`.
    """
    project = _project_name()
    config = stack_config(stack, project)
    for key, value in (config_overrides or {}).items():
        config[key if ":" in key else f"{project}:{key}"] = value
    monitor = _RecordingMonitor(backend(_region(config)))
    pulumi.runtime.set_all_config(config)
    # set_mocks keeps an existing root stack: without this, a second run would parent to the first run's stack.
    set_root_resource(None)
    pulumi.runtime.set_mocks(monitor.mocks, project=project, stack=stack, preview=False, monitor=monitor)
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    exported: dict[str, Any] = {}

    def program() -> pulumi.Output:
        runpy.run_path(str(PROJECT_DIR / "__main__.py"), run_name="__main__")
        return pulumi.Output.from_input(dict(get_root_resource().outputs))

    async def collect() -> None:
        exported.update(await program().future() or {})

    # The mocks answer from the loop's default executor: one of this run's own, so its threads end with the run.
    executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="pulumi-mocks")
    _ensure_event_loop().set_default_executor(executor)
    try:
        with _in_project_dir():
            _sync_await(run_pulumi_func(lambda: _sync_await(collect())))
    finally:
        executor.shutdown(wait=True)
    return ProgramRun(stack=stack, project=project, config=config, resources=tuple(monitor.registered),
                      outputs=exported)
