"""IAM least privilege: no wildcard actions or resources, exact delivery targets, no managed beside inline policies."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.common import MANDATORY, as_list, depends_on, is_allow, of_type, statements

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
# Resources whose `policy` input is an identity policy (what a principal may do). A role's own inline policies
# are read too; its assume-role policy is a trust policy, grants nothing, and is not checked here.
_IDENTITY_POLICY_TYPES = (
    ROLE_POLICY,
    "aws:iam/policy:Policy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)

# Actions AWS authorizes only on "Resource": "*": their service defines no resource type for them
# (Service Authorization Reference), so naming an ARN would make the statement match nothing.
WILDCARD_RESOURCE_ACTIONS = frozenset(
    action.lower()
    for action in (
        # What Lambda active tracing and the X-Ray SDK send and ask for (the AWSXRayDaemonWriteAccess set).
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:GetSamplingStatisticSummaries",
        # Custom metrics through the API rather than EMF logs; narrow it with the cloudwatch:namespace condition.
        "cloudwatch:PutMetricData",
    )
)


def _documents(props: Mapping[str, Any], resource_type: str) -> list[Any]:
    if resource_type == ROLE:
        return [p.get("policy") for p in as_list(props.get("inlinePolicies")) if isinstance(p, Mapping)]
    if resource_type in _IDENTITY_POLICY_TYPES:
        return [props.get("policy")]
    return []


def _allow_statements(args: ResourceValidationArgs) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """Every Allow statement of every identity policy document of the resource, numbered from 1."""
    index = 0
    for document in _documents(args.props, args.resource_type):
        for statement in statements(document):
            index += 1
            if is_allow(statement):
                yield index, statement


def _no_wildcard_actions(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for index, statement in _allow_statements(args):
        if "NotAction" in statement:
            report_violation(f"statement {index} allows NotAction, which grants every other action; "
                             f"list the actions the code calls.", None)
        wildcards = [a for a in as_list(statement.get("Action")) if not isinstance(a, str) or "*" in a or "?" in a]
        if wildcards:
            report_violation(f"statement {index} allows wildcard actions {wildcards}; "
                             f"list the actions the code calls.", None)


iam_no_wildcard_actions = ResourceValidationPolicy(
    name="iam-no-wildcard-actions",
    description="IAM policies allow only named actions, never '*', 'service:*' or NotAction.",
    enforcement_level=MANDATORY,
    validate=_no_wildcard_actions,
)


def _no_wildcard_resources(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for index, statement in _allow_statements(args):
        if "NotResource" in statement:
            report_violation(f"statement {index} allows NotResource, which grants every other resource; "
                             f"name the exact ARNs.", None)
        if "*" not in as_list(statement.get("Resource")):
            continue
        actions = as_list(statement.get("Action"))
        scoped = [a for a in actions if not isinstance(a, str) or a.lower() not in WILDCARD_RESOURCE_ACTIONS]
        if scoped or not actions:
            report_violation(f"statement {index} allows {scoped or 'its actions'} on \"Resource\": \"*\"; name the "
                             f"exact ARNs (\"*\" is only for {sorted(WILDCARD_RESOURCE_ACTIONS)}).", None)


iam_no_wildcard_resources = ResourceValidationPolicy(
    name="iam-no-wildcard-resources",
    description='IAM policies allow "Resource": "*" only for actions AWS authorizes on nothing narrower.',
    enforcement_level=MANDATORY,
    validate=_no_wildcard_resources,
)


# Actions that hand work or data to another resource: a wildcard anywhere in their resource lets the code (or
# whoever controls its inputs) deliver to any bus, state machine, function, queue or topic the pattern matches.
DELIVERY_ACTIONS = frozenset(
    action.lower()
    for action in (
        "events:PutEvents",
        "states:StartExecution",
        "states:StartSyncExecution",
        "lambda:InvokeFunction",
        "sqs:SendMessage",
        "sns:Publish",
    )
)


def _exact_delivery_targets(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for index, statement in _allow_statements(args):
        delivering = sorted(a for a in as_list(statement.get("Action"))
                            if isinstance(a, str) and a.lower() in DELIVERY_ACTIONS)
        if not delivering:
            continue
        resources = as_list(statement.get("Resource"))
        if not resources:
            report_violation(f"statement {index} allows {delivering} on no Resource; name the exact target ARNs.",
                             None)
        patterns = [r for r in resources if not isinstance(r, str) or "*" in r or "?" in r]
        if patterns:
            report_violation(f"statement {index} allows {delivering} on {patterns}; name the exact bus, state "
                             f"machine, function, queue or topic ARN.", None)


iam_exact_delivery_targets = ResourceValidationPolicy(
    name="iam-exact-delivery-targets",
    description="IAM policies allow PutEvents, StartExecution, InvokeFunction, SendMessage and Publish only on "
                "exact ARNs, never a pattern.",
    enforcement_level=MANDATORY,
    validate=_exact_delivery_targets,
)


def _no_managed_beside_inline(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    role_policies = of_type(args.resources, ROLE_POLICY)
    attachments = of_type(args.resources, ROLE_POLICY_ATTACHMENT)
    for role in of_type(args.resources, ROLE):
        inline = bool(as_list(role.props.get("inlinePolicies"))) or any(
            depends_on(p, role, "role") for p in role_policies)
        managed = [str(arn) for arn in as_list(role.props.get("managedPolicyArns"))] + [
            str(a.props.get("policyArn")) for a in attachments if depends_on(a, role, "role")]
        if inline and managed:
            report_violation(f"role '{role.name}' has inline policies and managed policies {managed}; keep its "
                             f"permissions in its one inline policy.", role.urn)


iam_no_managed_policy_beside_inline = StackValidationPolicy(
    name="iam-no-managed-policy-beside-inline",
    description="A role with inline policies has no managed policy attached beside them.",
    enforcement_level=MANDATORY,
    validate=_no_managed_beside_inline,
)

POLICIES = [iam_no_wildcard_actions, iam_no_wildcard_resources, iam_exact_delivery_targets,
            iam_no_managed_policy_beside_inline]
