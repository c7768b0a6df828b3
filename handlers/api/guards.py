"""What a request must be before the resolver reads it: each query parameter once and known to its route, and a body
that is a small, well-formed JSON object. API Gateway passes all of these through, and the resolver would take some
(a repeated key, NaN) or fail with a 500 on others (deep nesting, a 5,000-digit integer)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from aws_lambda_powertools.event_handler import Response, content_types

from handlers import contract

# The methods whose routes read a body; on the others API Gateway passes a body along and nothing reads it.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Far longer than any field's range (the models then name the range), far shorter than int()'s limit (4,300
# digits by default, 640 at the least): past it int() raises ValueError, which would escape the resolver as a 500.
_MAX_INT_DIGITS = 100
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class Refused(Exception):
    """A request refused before the resolver: the status and the message of the error body."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message

    def response(self) -> dict:
        return {
            "statusCode": self.status,
            "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": json.dumps({"error": self.message}),
            "isBase64Encoded": False,
        }


def refuse(event: dict) -> dict | None:
    """The response refusing `event` (an HTTP API payload v2 event), or None to let the resolver answer it."""
    reads_body = event.get("requestContext", {}).get("http", {}).get("method") in _BODY_METHODS
    try:
        data = _body_bytes(event) if reads_body else None  # the size first: nothing of a body over it is read
        _refuse_repeated_query_parameters(event)
        if data is not None:
            _refuse_non_json(event)
            parse_object(_utf8(data))
    except Refused as refused:
        return refused.response()
    return None


def refuse_unknown_query_parameters(app: Any, next_middleware: Callable) -> Response:
    """A resolver middleware (it runs once the route is known): a query parameter the route does not declare is a
    400, as an unknown body field is; a misspelt `windowIndex` or a `sha256` sent in the query would otherwise be
    silently ignored."""
    # "_route" is where Powertools keeps the matched route for its middlewares (its own validation reads it there).
    route = app.context["_route"]
    if route.func.__name__ == "not_found_handler":  # no route matched: the 404 says so, whatever the query
        return next_middleware(app)
    declared = {param.alias for param in route.dependant.query_params}
    for name in _query_names(app.current_event.raw_event):
        if name not in declared:
            return Response(
                status_code=400,
                content_type=content_types.APPLICATION_JSON,
                body={"error": f"{name or '(empty name)'}: not a query parameter of this route"},
            )
    return next_middleware(app)


def parse_object(text: str) -> dict:
    """`text` as a JSON object, or Refused naming the field (or `body`) that is not strict JSON: nesting deeper than
    the limit, a repeated key, NaN or Infinity, an integer longer than any field takes, a BOM, trailing data."""
    if _depth(text) > contract.MAX_REQUEST_BODY_DEPTH:
        raise Refused(400, f"body: nested deeper than {contract.MAX_REQUEST_BODY_DEPTH} levels")
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_NotJson, parse_int=_integer)
    except json.JSONDecodeError as error:
        raise Refused(400, f"body: not valid JSON ({error.msg}, at line {error.lineno} column {error.colno})") from None
    if not isinstance(value, dict):
        raise Refused(400, "body: must be a JSON object")
    _refuse_not_json(value, "")
    return value


def _body_bytes(event: dict) -> bytes:
    limit = contract.MAX_REQUEST_BODY_BYTES
    too_large = Refused(413, f"body: larger than {limit} bytes")
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        if len(body) > 2 * limit + 4:  # decoded, it would be at least three quarters of that: past the limit
            raise too_large
        try:
            data = base64.b64decode(body, validate=True)
        except binascii.Error:
            raise Refused(400, "body: not valid base64") from None
    else:
        if len(body) > limit:  # every character is at least one byte
            raise too_large
        data = body.encode("utf-8", "surrogatepass")
    if len(data) > limit:
        raise too_large
    return data


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # API Gateway hands a body that is not UTF-8 over base64-encoded; the resolver's decoding would raise.
        raise Refused(400, "the request body is not UTF-8 text, so it is not JSON") from None


def _refuse_non_json(event: dict) -> None:
    """Every body this API takes is JSON. Another declared type (`curl -d` sends a form type) is refused before the
    resolver would parse it as a form or multipart body, with a message that names the actual problem."""
    content_type = (event.get("headers") or {}).get("content-type", "").strip()
    if content_type and not content_type.startswith(content_types.APPLICATION_JSON):
        raise Refused(400, f"Content-Type must be application/json, not {content_type}")


def _query_names(event: dict) -> list[str]:
    # rawQueryString: API Gateway joins a repeated parameter's values with a comma in queryStringParameters.
    return [name for name, _ in parse_qsl(event.get("rawQueryString") or "", keep_blank_values=True)]


def _refuse_repeated_query_parameters(event: dict) -> None:
    seen: set[str] = set()
    for name in _query_names(event):
        if name in seen:
            raise Refused(400, f"{name}: given more than once")
        seen.add(name)


def _depth(text: str) -> int:
    """How deep arrays and objects nest, counted without parsing: json's decoder recurses once per level and raises
    RecursionError past about a thousand, which would escape the resolver as a 500."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


class _NotJson:
    """A literal Python's json takes and JSON does not (NaN, Infinity, -Infinity), or an integer too long to be any
    field's value: kept in place by the decoder so that the field holding it can be named."""

    def __init__(self, literal: str):
        self.literal = literal

    def reason(self) -> str:
        if self.literal.lstrip("-").isdigit():
            return f"an integer of {len(self.literal.lstrip('-'))} digits is out of range"
        return f"{self.literal} is not a JSON number"


def _integer(literal: str) -> int | _NotJson:
    return _NotJson(literal) if len(literal.lstrip("-")) > _MAX_INT_DIGITS else int(literal)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in pairs:
        if key in fields:
            raise Refused(400, f"{key}: given more than once")
        fields[key] = value
    return fields


def _refuse_not_json(value: Any, path: str) -> None:
    if isinstance(value, _NotJson):
        raise Refused(400, f"{path or 'body'}: {value.reason()}")
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        _refuse_not_json(child, f"{path}.{key}" if path else str(key))
