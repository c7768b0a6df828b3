"""Build policy inputs as the engine does and collect what a policy reports."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)

STACK_URN = "urn:pulumi:test::session-uploads"


def _options(parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[],
                                 parent=parent)


def urn(type_token: str, name: str) -> str:
    return f"{STACK_URN}::{type_token}::{name}"


def resource(type_token: str, name: str, props: Mapping[str, Any] | None = None,
             depends_on: Sequence[PolicyResource] = ()) -> PolicyResource:
    """One resource of a stack; `depends_on` are the resources whose outputs it takes as inputs."""
    return PolicyResource(type_token, dict(props or {}), urn(type_token, name), name, _options(), None, None,
                          list(depends_on), {})


def validate_resource(policy: Policy, type_token: str, props: Mapping[str, Any]) -> list[str]:
    """The messages a resource policy reports for one resource with these inputs."""
    reported: list[str] = []
    args = ResourceValidationArgs(type_token, dict(props), urn(type_token, "subject"), "subject", _options(), None)
    policy.validate(args, lambda message, _urn=None: reported.append(message))
    return reported


def validate_stack(policy: Policy, resources: Sequence[PolicyResource]) -> list[tuple[str, str | None]]:
    """The (message, urn) pairs a stack policy reports for these resources."""
    reported: list[tuple[str, str | None]] = []
    policy.validate(StackValidationArgs(list(resources)), lambda message, urn_=None: reported.append((message, urn_)))
    return reported


def document(*statements: Mapping[str, Any], as_json: bool = True) -> str | dict:
    """An IAM policy document; as the JSON string providers take by default."""
    doc = {"Version": "2012-10-17", "Statement": list(statements)}
    return json.dumps(doc) if as_json else doc


def allow(actions: str | list[str], resources: str | list[str]) -> dict:
    return {"Effect": "Allow", "Action": actions, "Resource": resources}
