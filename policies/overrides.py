"""Per-stack enforcement levels, from the stack's own config, in the shape `--policy-pack-config` takes."""

from __future__ import annotations

import json
import sys

from policies.apigateway import apigateway_route_authorizer
from policies.common import ADVISORY

# The stack config key (project namespace) by which a stack explicitly opts out of authenticating its API.
ALLOW_UNAUTHENTICATED = "allowUnauthenticated"


def enforcement_overrides(allow_unauthenticated: str | None) -> dict[str, str]:
    """Policy name -> enforcement level for a stack whose `allowUnauthenticated` config is the given value."""
    if (allow_unauthenticated or "").strip().lower() == "true":
        return {apigateway_route_authorizer.name: ADVISORY.value}
    return {}


if __name__ == "__main__":
    # CI: python -m policies.overrides "$(pulumi config get allowUnauthenticated)" > policy-config.json
    print(json.dumps(enforcement_overrides(sys.argv[1] if len(sys.argv) > 1 else None)))
