"""What every policy module needs: reading nested inputs, IAM documents, and links between resources."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyResource

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY


def dig(value: Any, *path: str) -> Any:
    """The value at `path` in nested camelCase inputs, or None when any step is missing."""
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def as_list(value: Any) -> list:
    """IAM and provider lists may be a single value, a list, or absent."""
    if value is None:
        return []
    if isinstance(value, str | Mapping):
        return [value]
    return list(value)


def statements(document: Any) -> list[Mapping[str, Any]]:
    """The statements of an IAM policy document, given as a JSON string (as providers take it) or a mapping."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return []
    return [s for s in as_list(dig(document, "Statement")) if isinstance(s, Mapping)]


def is_allow(statement: Mapping[str, Any]) -> bool:
    return statement.get("Effect", "Allow") == "Allow"


def of_type(resources: Iterable[PolicyResource], type_token: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type == type_token]


def depends_on(resource: PolicyResource, target: PolicyResource, prop: str | None = None) -> bool:
    """True when `resource` takes an input from `target`: through `prop` when the engine recorded property
    dependencies, else through any input. Dependencies are how one resource names another before either exists
    (at preview an ARN or a name is still unknown)."""
    if prop is not None and prop in resource.property_dependencies:
        return any(d.urn == target.urn for d in resource.property_dependencies[prop])
    return any(d.urn == target.urn for d in resource.dependencies)


def linked(a: PolicyResource, b: PolicyResource) -> bool:
    """True when either resource takes an input from the other."""
    return depends_on(a, b) or depends_on(b, a)
