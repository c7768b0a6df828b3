"""Renders the API's OpenAPI document from the resolver's own routes and models: `python -m handlers.api.openapi`."""

from __future__ import annotations

import json


def document() -> dict:
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    from handlers.api.app import app

    schema = app.get_openapi_json_schema(
        title="session-uploads API",
        version="1.0.0",
        description=(
            "Capture sessions and presigned S3 PUT grants for per-window media chunks. Every route requires a JWT "
            'bearer token; the caller is its `sub` claim. Errors are `{"error": message}` with a 4xx status.'
        ),
        security_schemes={"jwt": HTTPBearer(bearerFormat="JWT")},
        security=[{"jwt": []}],
    )
    spec = json.loads(schema)
    # Validation failures answer 400 with the contract's error body (handlers.api.app), never Powertools' 422.
    for operations in spec["paths"].values():
        for operation in operations.values():
            operation["responses"].pop("422", None)
    for name in ("HTTPValidationError", "ValidationError"):
        spec["components"]["schemas"].pop(name, None)
    return spec


def render() -> str:
    import yaml

    return yaml.safe_dump(document(), sort_keys=False, width=120)


if __name__ == "__main__":
    print(render(), end="")
