"""Renders the API's OpenAPI document from the resolver's own routes and models: `python -m handlers.api.openapi`."""

from __future__ import annotations

import json


def document() -> dict:
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    from handlers import contract
    from handlers.api.app import app

    schema = app.get_openapi_json_schema(
        title="session-uploads API",
        version="1.0.0",
        description=(
            "Capture sessions and presigned S3 PUT grants for per-window media chunks. Every route requires a JWT "
            'bearer token; the caller is its `sub` claim. Errors are `{"error": message}` with a 4xx status. Request '
            f"bodies are JSON objects of at most {contract.MAX_REQUEST_BODY_BYTES} bytes (413 beyond), nested at most "
            f"{contract.MAX_REQUEST_BODY_DEPTH} levels, each key once, no NaN or Infinity. Query integers are decimal "
            "digits (`1.0`, `1e3`, ` 1`, `01` are 400); a query parameter is given once, and only if its route "
            "declares it."
        ),
        security_schemes={"jwt": HTTPBearer(bearerFormat="JWT")},
        security=[{"jwt": []}],
    )
    spec = json.loads(schema)
    # Validation failures answer 400 with the contract's error body (handlers.api.app), never Powertools' 422.
    for operations in spec["paths"].values():
        for operation in operations.values():
            operation["responses"].pop("422", None)
            # handlers.api.guards answers these before any route does: on every route, a query parameter repeated or
            # undeclared (400); on a route with a body, one over the size limit (413).
            operation["responses"].setdefault("400", _error("invalid request"))
            if "requestBody" in operation:
                operation["responses"]["413"] = _error(f"body over {contract.MAX_REQUEST_BODY_BYTES} bytes")
            operation["responses"] = dict(sorted(operation["responses"].items()))
    for name in ("HTTPValidationError", "ValidationError"):
        spec["components"]["schemas"].pop(name, None)
    return spec


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }


def render() -> str:
    import yaml

    return yaml.safe_dump(document(), sort_keys=False, width=120)


if __name__ == "__main__":
    print(render(), end="")
