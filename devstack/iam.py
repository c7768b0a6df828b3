"""Least privilege, proven locally: the program's policies as moto evaluates them, every AWS call each function makes
(operation and the ARN it touches), and the check that each call is allowed by a statement of its function's policy
by ARN and that each action granted is used.

moto enforces the policies on every call, but checks resource ARNs only for S3 and SQS and evaluates no Conditions
(DESIGN.md, "What moto does not do"); the conformance check here matches every call's ARN, for every service.
`python -m devstack.iam report DIR` prints, per function, what is granted beside what the recorded calls used.
"""

from __future__ import annotations

import fnmatch
import json
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Statements the code never uses itself: the Lambda service writes the function's logs and its X-Ray segments.
RUNTIME_STATEMENTS = {"Logs": "the Lambda runtime writes the function's logs",
                      "Tracing": "the Lambda runtime and the X-Ray SDK send segments (off locally: no daemon)"}
# moto names these actions after the API operation: Lambda's invoke, and DynamoDB's transactions (which IAM checks
# as the actions of their items).
_MOTO_ACTION_NAMES = {
    "lambda:InvokeFunction": "lambda:Invoke",
    **{f"dynamodb:{a}": "dynamodb:TransactWriteItems" for a in ("PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem")},
    "dynamodb:GetItem": "dynamodb:TransactGetItems",
}
# The services whose calls moto checks against the resource's ARN; it checks the others' against `*`.
_MOTO_CHECKS_ARNS = frozenset({"s3", "sqs"})
ACCOUNT_ID = "123456789012"  # moto's


def _listed(value: str | list[str] | None) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def for_moto(policy: dict) -> dict:
    """The program's policy as moto evaluates one: its actions as moto names them (each translated action kept beside
    the original); and, for the services whose calls moto checks against the resource `*` (all but S3 and SQS),
    that resource, since moto matches the statement's ARN against `*` and denies. The ARNs of those calls are
    checked by `conformance`, on the program's own policy."""
    statements = []
    for statement in policy["Statement"]:
        actions = _listed(statement.get("Action"))
        actions += sorted({_MOTO_ACTION_NAMES[a] for a in actions if a in _MOTO_ACTION_NAMES})
        by_arn = [a for a in actions if a.split(":")[0] in _MOTO_CHECKS_ARNS]
        by_action = [a for a in actions if a not in by_arn]
        if by_arn:
            statements.append({**statement, "Action": by_arn})
        if by_action:
            statements.append({**{k: v for k, v in statement.items() if k != "Sid"}, "Action": by_action,
                               "Resource": "*"})
    return {**policy, "Statement": statements}


@dataclass(frozen=True)
class Call:
    action: str  # IAM's name, e.g. s3:GetObject
    resource: str  # the ARN it touches


def _matches(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def allowing_statements(policy: dict, call: Call) -> list[dict]:
    """The Allow statements of `policy` that grant `call` (action and resource; Conditions are not evaluated)."""
    return [
        s for s in policy["Statement"]
        if s.get("Effect") == "Allow"
        and any(_matches(a.lower(), call.action.lower()) for a in _listed(s.get("Action")))
        and any(_matches(r, call.resource) for r in _listed(s.get("Resource")))
    ]


def allows(policy: dict, action: str, resource: str) -> bool:
    return bool(allowing_statements(policy, Call(action, resource)))


# -- what a call touches ---------------------------------------------------------------------------------------

_OPERATION_ACTIONS = {
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("dynamodb", "TransactGetItems"): "dynamodb:GetItem",
}
_TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


def calls_of(service: str, operation: str, params: dict[str, Any], region: str) -> list[Call]:
    """The IAM actions and ARNs one API call needs, from its parameters (the services the handlers call)."""
    prefix = {"stepfunctions": "states"}.get(service, service)
    action = _OPERATION_ACTIONS.get((service, operation), f"{prefix}:{operation}")

    def table(name: str, index: str | None = None) -> str:
        arn = name if name.startswith("arn:") else f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{name}"
        return f"{arn}/index/{index}" if index else arn

    if service == "dynamodb":
        if operation == "TransactWriteItems":
            return [Call(f"dynamodb:{_TRANSACT_ACTIONS[kind]}", table(body["TableName"]))
                    for item in params["TransactItems"] for kind, body in item.items()]
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [Call(action, table(name)) for name in params["RequestItems"]]
        if operation == "TransactGetItems":
            return [Call(action, table(item["Get"]["TableName"])) for item in params["TransactItems"]]
        return [Call(action, table(params["TableName"], params.get("IndexName")))]
    if service == "s3":
        bucket = f"arn:aws:s3:::{params['Bucket']}"
        if operation == "CopyObject":
            source = params["CopySource"]
            source = f"{source['Bucket']}/{source['Key']}" if isinstance(source, dict) else source.lstrip("/")
            return [Call("s3:GetObject", f"arn:aws:s3:::{source.split('?')[0]}"),
                    Call("s3:PutObject", f"{bucket}/{params['Key']}")]
        return [Call(action, f"{bucket}/{params['Key']}" if "Key" in params else bucket)]
    if service == "lambda":
        name = params["FunctionName"]
        return [Call(action, name if name.startswith("arn:") else
                     f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}")]
    if service == "events" and operation == "PutEvents":
        buses = {entry.get("EventBusName", "default") for entry in params["Entries"]}
        return [Call(action, bus if bus.startswith("arn:") else f"arn:aws:events:{region}:{ACCOUNT_ID}:event-bus/{bus}")
                for bus in sorted(buses)]
    if service == "stepfunctions":
        return [Call(action, params["stateMachineArn"])]
    if service == "sqs":
        _, account, name = params["QueueUrl"].rsplit("/", 2)
        return [Call(action, f"arn:aws:sqs:{region}:{account}:{name}")]
    return [Call(action, "*")]


class CallRecorder:
    """Every AWS call one function makes, recorded by botocore's `before-parameter-build` event on its session."""

    def __init__(self, region: str):
        self._region = region
        self._lock = threading.Lock()
        self.calls: set[Call] = set()

    def attach(self, botocore_session: Any) -> None:
        botocore_session.register("before-parameter-build", self._record)
        botocore_session.register("after-call.s3", self._record_missing)

    def _record_missing(self, http_response: Any, model: Any, context: Any, **_: Any) -> None:
        """S3 answers a read of a missing key with 404 only to a caller allowed s3:ListBucket (403 otherwise): that
        grant is used, by the read, when the answer is a 404."""
        if model.name in ("HeadObject", "GetObject") and http_response.status_code == 404:
            self.record(Call("s3:ListBucket", f"arn:aws:s3:::{context['iam_bucket']}"))

    def _record(self, params: dict, model: Any, context: dict | None = None, **_: Any) -> None:
        service = model.service_model.service_name
        if context is not None and "Bucket" in params:
            context["iam_bucket"] = params["Bucket"]
        for call in calls_of(service, model.name, params, self._region):
            self.record(call)

    def record(self, call: Call) -> None:
        """A call made other than through the function's clients (a presigned URL it signed, used)."""
        with self._lock:
            self.calls.add(call)


# -- conformance -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Conformance:
    denied: tuple[Call, ...]  # calls no statement allows
    unused: tuple[tuple[str, str], ...]  # (statement sid, action) granted and never used

    @property
    def ok(self) -> bool:
        return not self.denied and not self.unused


def granted(policy: dict) -> list[tuple[str, str, list[str]]]:
    """(sid, action, resources) of every action the code is granted (the runtime's statements aside)."""
    return [(s.get("Sid", ""), action, _listed(s.get("Resource")))
            for s in policy["Statement"] if s.get("Effect") == "Allow" and s.get("Sid") not in RUNTIME_STATEMENTS
            for action in _listed(s.get("Action"))]


def conformance(policy: dict, calls: Iterable[Call]) -> Conformance:
    calls = set(calls)
    denied = tuple(sorted((c for c in calls if not allowing_statements(policy, c)), key=lambda c: (c.action, c.resource)))
    unused = tuple(grant for grant, arns in _grant_uses(policy, calls).items() if not arns)
    return Conformance(denied, unused)


def write_record(directory: Path, name: str, policies: dict[str, dict], calls: dict[str, set[Call]]) -> None:
    """One stack's functions: their policies and calls, for `report` to merge with other stacks'."""
    directory.mkdir(parents=True, exist_ok=True)
    record = {function: {"policy": policies[function], "calls": sorted([c.action, c.resource] for c in calls[function])}
              for function in policies}
    (directory / f"{name}.json").write_text(json.dumps(record))


def _grant_uses(policy: dict, calls: set[Call]) -> dict[tuple[str, str], set[str]]:
    """(sid, action) of each grant -> the ARNs the calls used it on."""
    return {(sid, action): {c.resource for c in calls if _matches(action.lower(), c.action.lower())
                            and any(_matches(r, c.resource) for r in resources)}
            for sid, action, resources in granted(policy)}


def report(directory: Path) -> int:
    """Every stack's record under `directory`, each checked against its own policy (names differ from stack to stack),
    the grants' uses merged; prints granted vs used per function; 1 if any does not conform."""
    uses: dict[str, dict[tuple[str, str], set[str]]] = {}
    denied: dict[str, set[Call]] = {}
    counts: dict[str, int] = {}
    for path in sorted(directory.glob("*.json")):
        for function, record in json.loads(path.read_text()).items():
            calls = {Call(a, r) for a, r in record["calls"]}
            counts[function] = counts.get(function, 0) + len(calls)
            denied.setdefault(function, set()).update(conformance(record["policy"], calls).denied)
            for grant, arns in _grant_uses(record["policy"], calls).items():
                uses.setdefault(function, {}).setdefault(grant, set()).update(arns)
    if not uses:
        print(f"no recorded calls under {directory}", file=sys.stderr)
        return 1
    failed = False
    for function in sorted(uses):
        print(f"\n{function}: {counts[function]} distinct calls recorded, across the stacks")
        for (sid, action), arns in uses[function].items():
            failed |= not arns
            state = f"used on {len(arns)} ARN{'s' if len(arns) != 1 else ''}" if arns else "NOT USED"
            print(f"  {sid or '-':16} {action:28} {state}")
        for sid, reason in RUNTIME_STATEMENTS.items():
            print(f"  {sid:16} {'(runtime)':28} {reason}")
        for call in sorted(denied[function], key=lambda c: (c.action, c.resource)):
            failed = True
            print(f"  DENIED           {call.action:28} {call.resource}")
    print("\nconforms" if not failed else "\nDOES NOT CONFORM: a call outside every statement, or a grant never used")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "report":
        sys.exit("usage: python -m devstack.iam report DIR")
    sys.exit(report(Path(sys.argv[2])))
