"""IAM policies: wildcard actions and resources, exact delivery targets, managed policies beside inline ones."""

from __future__ import annotations

import pytest

from policies.iam import (
    ROLE,
    ROLE_POLICY,
    ROLE_POLICY_ATTACHMENT,
    iam_exact_delivery_targets,
    iam_no_managed_policy_beside_inline,
    iam_no_wildcard_actions,
    iam_no_wildcard_resources,
)
from tests.policies.support import allow, document, resource, validate_resource, validate_stack

BUCKET_OBJECTS = "arn:aws:s3:::uploads/sessions/*"
TABLE = "arn:aws:dynamodb:eu-west-1:123456789012:table/sessions"
TRACING = allow(["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*")
LEAST = document(allow("s3:PutObject", BUCKET_OBJECTS), allow(["dynamodb:GetItem", "dynamodb:PutItem"], TABLE),
                 TRACING)


@pytest.mark.parametrize("as_json", [True, False], ids=["json-string", "mapping"])
def test_named_actions_on_exact_arns_pass_both_policies(as_json):
    policy = document(allow("s3:PutObject", BUCKET_OBJECTS), TRACING, as_json=as_json)
    for check in (iam_no_wildcard_actions, iam_no_wildcard_resources):
        assert validate_resource(check, ROLE_POLICY, {"role": "r", "policy": policy}) == []


@pytest.mark.parametrize("action", ["*", "s3:*", "dynamodb:Get*"])
def test_wildcard_actions_are_reported(action):
    reported = validate_resource(iam_no_wildcard_actions, ROLE_POLICY,
                                 {"policy": document(allow(["s3:GetObject", action], BUCKET_OBJECTS))})
    assert len(reported) == 1 and action in reported[0]


def test_not_action_is_a_wildcard():
    policy = document({"Effect": "Allow", "NotAction": "iam:*", "Resource": TABLE})
    assert "NotAction" in validate_resource(iam_no_wildcard_actions, ROLE_POLICY, {"policy": policy})[0]


def test_wildcard_in_a_deny_statement_is_fine():
    policy = document({"Effect": "Deny", "Action": "s3:*", "Resource": "*"}, allow("s3:PutObject", BUCKET_OBJECTS))
    assert validate_resource(iam_no_wildcard_actions, ROLE_POLICY, {"policy": policy}) == []
    assert validate_resource(iam_no_wildcard_resources, ROLE_POLICY, {"policy": policy}) == []


def test_role_inline_policies_are_checked_too():
    props = {"inlinePolicies": [{"name": "p", "policy": document(allow("*", "*"))}]}
    assert validate_resource(iam_no_wildcard_actions, ROLE, props)
    assert validate_resource(iam_no_wildcard_resources, ROLE, props)


def test_a_trust_policy_is_not_an_identity_policy():
    trust = document({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}})
    assert validate_resource(iam_no_wildcard_resources, ROLE, {"assumeRolePolicy": trust}) == []


@pytest.mark.parametrize("check", [iam_no_wildcard_actions, iam_no_wildcard_resources], ids=lambda p: p.name)
def test_a_policy_without_a_document_grants_nothing(check):
    assert validate_resource(check, ROLE_POLICY, {"role": "r"}) == []


def test_resource_star_is_reported_for_actions_that_take_an_arn():
    policy = document(allow(["xray:PutTraceSegments", "s3:GetObject"], "*"))
    reported = validate_resource(iam_no_wildcard_resources, ROLE_POLICY, {"policy": policy})
    assert len(reported) == 1 and "s3:GetObject" in reported[0] and "xray:PutTraceSegments" not in reported[0]


def test_resource_star_without_an_action_is_reported():
    policy = document({"Effect": "Allow", "Resource": "*"})
    assert validate_resource(iam_no_wildcard_resources, ROLE_POLICY, {"policy": policy})


def test_not_resource_is_reported():
    policy = document({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": BUCKET_OBJECTS})
    assert "NotResource" in validate_resource(iam_no_wildcard_resources, ROLE_POLICY, {"policy": policy})[0]


def _role_with(*, inline: bool, attachment: bool, managed_arns: list[str] | None = None):
    role = resource(ROLE, "api-role", {"managedPolicyArns": managed_arns} if managed_arns else {})
    others = []
    if inline:
        others.append(resource(ROLE_POLICY, "api-policy", {"role": "api-role", "policy": LEAST}, [role]))
    if attachment:
        basic = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
        others.append(resource(ROLE_POLICY_ATTACHMENT, "api-basic", {"role": "api-role", "policyArn": basic}, [role]))
    return role, [role, *others]


def test_one_inline_policy_alone_passes():
    _, resources = _role_with(inline=True, attachment=False)
    assert validate_stack(iam_no_managed_policy_beside_inline, resources) == []


def test_managed_attachment_beside_an_inline_policy_is_reported_on_the_role():
    role, resources = _role_with(inline=True, attachment=True)
    [(message, urn)] = validate_stack(iam_no_managed_policy_beside_inline, resources)
    assert urn == role.urn and "AWSLambdaBasicExecutionRole" in message


def test_managed_policy_arns_on_the_role_count_as_attachments():
    role, resources = _role_with(inline=True, attachment=False, managed_arns=["arn:aws:iam::aws:policy/ReadOnly"])
    assert [urn for _, urn in validate_stack(iam_no_managed_policy_beside_inline, resources)] == [role.urn]


def test_a_role_without_any_policy_passes():
    _, resources = _role_with(inline=False, attachment=False)
    assert validate_stack(iam_no_managed_policy_beside_inline, resources) == []


def test_an_attachment_on_another_role_does_not_count():
    role, resources = _role_with(inline=True, attachment=False)
    other = resource(ROLE, "other-role")
    attachment = resource(ROLE_POLICY_ATTACHMENT, "other-basic", {"policyArn": "arn:aws:iam::aws:policy/X"}, [other])
    assert validate_stack(iam_no_managed_policy_beside_inline, [*resources, other, attachment]) == []


BUS = "arn:aws:events:eu-west-1:123456789012:event-bus/session-uploads-dev"
MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:session-processing"


def test_delivery_on_exact_arns_passes():
    policy = document(allow("events:PutEvents", BUS), allow("states:StartExecution", MACHINE), TRACING,
                      allow("s3:PutObject", BUCKET_OBJECTS))  # a prefix pattern is fine for non-delivery actions
    assert validate_resource(iam_exact_delivery_targets, ROLE_POLICY, {"policy": policy}) == []


@pytest.mark.parametrize(("action", "pattern"), [
    ("events:PutEvents", "arn:aws:events:eu-west-1:123456789012:event-bus/*"),
    ("states:StartExecution", "arn:aws:states:*:123456789012:stateMachine:session-*"),
    ("lambda:InvokeFunction", "arn:aws:lambda:eu-west-1:123456789012:function:ingest-?"),
    ("sqs:SendMessage", "*"),
])
def test_delivery_on_a_pattern_is_reported(action, pattern):
    policy = document(allow(["dynamodb:GetItem", action], [TABLE, pattern]))
    [message] = validate_resource(iam_exact_delivery_targets, ROLE_POLICY, {"policy": policy})
    assert action in message and pattern in message and TABLE not in message


def test_delivery_actions_are_matched_whatever_their_case():
    policy = document(allow("Events:putEvents", "arn:aws:events:eu-west-1:123456789012:event-bus/*"))
    assert validate_resource(iam_exact_delivery_targets, ROLE_POLICY, {"policy": policy})


def test_delivery_without_a_resource_is_reported():
    policy = document({"Effect": "Allow", "Action": "events:PutEvents"})
    [message] = validate_resource(iam_exact_delivery_targets, ROLE_POLICY, {"policy": policy})
    assert "no Resource" in message
