"""The offline preview: every stack file passes the pack, and a wildcard grant added to the program turns it red."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json

import pytest
from pulumi_policy import EnforcementLevel

import components.api
from offline.preview import evaluate, main
from offline.program import PROJECT_DIR, ProgramRun, run_program

STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in PROJECT_DIR.glob("Pulumi.*.yaml"))


@pytest.fixture(scope="module")
def dev() -> ProgramRun:
    return run_program("dev")  # Pulumi.dev.yaml sets no jwtIssuer: the stack's own user pool authenticates


def preview(stack: str) -> tuple[int, str]:
    """`python -m offline.preview --stack <stack>`: its exit status and what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["--stack", stack])
    return status, out.getvalue()


def test_there_are_stack_files_to_preview():
    assert {"dev", "prod"} <= set(STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_passes_the_pack_with_no_mandatory_violation(stack):
    status, printed = preview(stack)
    assert status == 0, printed
    assert "0 mandatory violation(s)" in printed
    assert "pulumi:pulumi:Stack" in printed and "aws:lambda/function:Function" in printed  # the tree


def test_a_stack_that_opted_out_of_authentication_gets_advisory_authorizer_violations():
    opted_out = run_program("dev", {"allowUnauthenticated": "true"})
    routes = [v for v in evaluate(opted_out) if v.policy == "apigateway-route-authorizer"]
    assert routes and {v.level for v in routes} == {EnforcementLevel.ADVISORY}


def test_a_stack_with_its_own_user_pool_keeps_the_authorizer_policy_mandatory(dev):
    assert not [v for v in evaluate(dev) if v.policy == "apigateway-route-authorizer"]
    opened = dataclasses.replace(dev, resources=tuple(_changed_type(
        "aws:apigatewayv2/route:Route", lambda i: {**i, "authorizationType": "NONE", "authorizerId": None})(
        list(dev.resources))))
    routes = [v for v in evaluate(opened) if v.policy == "apigateway-route-authorizer"]
    assert len(routes) == len(dev.of_type("aws:apigatewayv2/route:Route"))
    assert {v.level for v in routes} == {EnforcementLevel.MANDATORY}


def test_a_wildcard_statement_added_to_the_program_turns_the_preview_red(dev, monkeypatch):
    """The API role's DynamoDB grant becomes dynamodb:*: through the real program, policy document and preview."""
    baseline = {(v.policy, v.urn) for v in evaluate(dev) if v.level is EnforcementLevel.MANDATORY}
    role_policy = next(r.urn for r in dev.resources if r.name == "api-handler-policy")
    original, widened = components.api.statement, []

    def statement_with_wildcard(actions, resources, sid=None):
        if any(a.startswith("dynamodb:") for a in actions):
            actions = ["dynamodb:*"]
            widened.append(sid)
        return original(actions, resources, sid=sid)

    monkeypatch.setattr(components.api, "statement", statement_with_wildcard)
    status, printed = preview("dev")
    assert widened, "the program no longer grants the API any DynamoDB action: inject the wildcard elsewhere"
    assert status == 1
    assert f"[mandatory]  iam-no-wildcard-actions  ({role_policy})" in printed
    assert "dynamodb:*" in printed
    assert ("iam-no-wildcard-actions", role_policy) not in baseline


def _without(type_token: str):
    return lambda resources: [r for r in resources if r.type != type_token]


def _dlq_keeping_one_hour(resources):
    return [dataclasses.replace(r, inputs={**r.inputs, "messageRetentionSeconds": 3600.0})
            if r.type == "aws:sqs/queue:Queue" else r for r in resources]


def _with_managed_policy_on_the_api_role(resources):
    role = next(r for r in resources if r.type == "aws:iam/role:Role" and r.name == "api-handler-role")
    attachment = dataclasses.replace(role, type="aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                                     name="api-handler-admin", urn=f"{role.urn}-admin", dependencies=(role.urn,),
                                     inputs={"role": "api-handler-role",
                                             "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})
    return [*resources, attachment]


def _changed(name: str, change):
    """The named resource with its inputs changed."""
    return lambda resources: [dataclasses.replace(r, inputs=change(dict(r.inputs))) if r.name == name else r
                              for r in resources]


def _changed_type(type_token: str, change):
    """Every resource of the type with its inputs changed."""
    return lambda resources: [dataclasses.replace(r, inputs=change(dict(r.inputs))) if r.type == type_token else r
                              for r in resources]


def _unscoped(policy_json: str) -> str:
    document = json.loads(policy_json)
    for statement in document["Statement"]:
        statement.pop("Condition", None)
    return json.dumps(document)


# Each stack policy links resources through the dependencies the program registers: break one link in the real
# graph and the policy must see it (were the links not seen, these policies would pass vacuously). The resource
# policies get the same treatment for the resources the program registers for them.
@pytest.mark.parametrize(("change", "policy", "culprit"), [
    (_without("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"), "lambda-async-bounded-retries",
     "upload-completion-handler-function"),
    (_without("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"), "s3-public-access-block", "storage-bucket"),
    (_without("aws:cloudwatch/logGroup:LogGroup"), "lambda-log-group-retention", "api-handler-function"),
    (_dlq_keeping_one_hour, "sqs-dlq-retention", "upload-completion-dlq"),
    (_with_managed_policy_on_the_api_role, "iam-no-managed-policy-beside-inline", "api-handler-role"),
    (_without("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"), "lambda-async-bounded-retries",
     "sweeper-handler-function"),
    (_changed("sweeper-target", lambda i: {k: v for k, v in i.items() if k != "deadLetterConfig"}),
     "lambda-async-bounded-retries", "sweeper-target"),
    (_changed("sweeper-dlq-policy", lambda i: {**i, "policy": _unscoped(i["policy"])}),
     "sqs-queue-policy-source-scoped", "sweeper-dlq-policy"),
    (_changed("sweeper-handler-policy", lambda i: {**i, "policy": i["policy"].replace("event-bus/session-uploads-dev",
                                                                                      "event-bus/*")}),
     "iam-exact-delivery-targets", "sweeper-handler-policy"),
    (_changed("monitoring-sessions-incomplete", lambda i: {**i, "alarmActions": []}), "cloudwatch-alarm-actions",
     "monitoring-sessions-incomplete"),
    (_changed("identity-user-pool", lambda i: {**i, "passwordPolicy": {**i["passwordPolicy"], "minimumLength": 8.0}}),
     "cognito-password-strength", "identity-user-pool"),
    (_changed("identity-user-pool", lambda i: {**i, "adminCreateUserConfig": {}, "autoVerifiedAttributes": []}),
     "cognito-verified-sign-up", "identity-user-pool"),
], ids=["no-invoke-config", "no-public-access-block", "no-log-groups", "short-dlq", "managed-beside-inline",
        "sweeper-no-invoke-config", "sweeper-target-no-dlq", "sweeper-dlq-unscoped", "bus-pattern",
        "silent-alarm", "short-passwords", "open-sign-up"])
def test_the_stack_policies_see_the_programs_wiring(dev, change, policy, culprit):
    assert not [v for v in evaluate(dev) if v.policy == policy]
    changed = dataclasses.replace(dev, resources=tuple(change(list(dev.resources))))
    culprits = {v.urn.rsplit("::", 1)[-1] for v in evaluate(changed) if v.policy == policy}
    assert culprit in culprits


@pytest.fixture(scope="module")
def snap_start() -> ProgramRun:
    return run_program("dev", {"apiSnapStart": "true"})


def test_a_stack_with_the_api_on_snap_start_passes_the_pack(snap_start):
    assert not [v for v in evaluate(snap_start) if v.level is EnforcementLevel.MANDATORY]


def _integration_on_latest(run: ProgramRun):
    """The API integration rewired to the function itself, as if it took `function.invoke_arn`, not the alias's."""
    function = run.one("aws:lambda/function:Function", "api-handler-function")
    alias = run.one("aws:lambda/alias:Alias", "api-handler-live")
    return lambda resources: [
        dataclasses.replace(r, dependencies=tuple(function.urn if d == alias.urn else d for d in r.dependencies))
        if r.type == "aws:apigatewayv2/integration:Integration" else r
        for r in resources
    ]


@pytest.mark.parametrize(("change", "policy", "culprit"), [
    (_changed("api-handler-function", lambda i: {k: v for k, v in i.items() if k != "publish"}),
     "lambda-snap-start-published", "api-handler-function"),
    (None, "lambda-snap-start-invoked-through-a-version", "api-integration"),
], ids=["unpublished", "integration-on-latest"])
def test_the_snap_start_policies_see_the_programs_wiring(snap_start, change, policy, culprit):
    assert not [v for v in evaluate(snap_start) if v.policy == policy]
    change = change or _integration_on_latest(snap_start)
    changed = dataclasses.replace(snap_start, resources=tuple(change(list(snap_start.resources))))
    culprits = {v.urn.rsplit("::", 1)[-1] for v in evaluate(changed) if v.policy == policy}
    assert culprit in culprits
