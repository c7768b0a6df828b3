"""docs/openapi.yaml is exactly what the resolver serves, and documents the contract's errors."""

import yaml

from components.api import OPENAPI_DOCUMENT, ROUTES
from handlers.api import openapi
from tests.conftest import load_handler


def test_the_published_document_is_the_one_rendered_from_the_resolver(aws):
    load_handler("handlers.api.app")
    assert OPENAPI_DOCUMENT.read_text() == openapi.render(), "run `make openapi` and commit docs/openapi.yaml"


def test_every_route_documents_its_errors_as_the_error_body_and_requires_the_jwt():
    spec = yaml.safe_load(OPENAPI_DOCUMENT.read_text())
    assert spec["security"] == [{"jwt": []}]
    assert spec["components"]["securitySchemes"]["jwt"]["scheme"] == "bearer"
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            codes = {int(code) for code in operation["responses"]}
            assert 401 in codes and not any(c >= 500 for c in codes) and 422 not in codes, (method, path)
            for code in codes - {200, 201, 202}:
                schema = operation["responses"][str(code)]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}


def test_the_deployed_routes_are_the_documented_ones():
    assert sorted(ROUTES) == [
        "GET /sessions/{sessionId}",
        "GET /sessions/{sessionId}/windows",
        "POST /sessions",
        "POST /sessions/{sessionId}/audio",
        "POST /sessions/{sessionId}/complete",
        "POST /sessions/{sessionId}/frames",
        "POST /sessions/{sessionId}/grants",
    ]
