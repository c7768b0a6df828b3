"""API Gateway HTTP API (payload v2) events, as the deployed API and its JWT authorizer hand them to Lambda."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

# An HTTP API's payload quota: API Gateway answers 413 to a larger request body, and never invokes the integration.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024


def http_api_event(
    method: str,
    path: str,
    *,
    query: str | Mapping[str, str] | None = None,
    body: str | bytes | None = None,
    headers: Mapping[str, str] | None = None,
    claims: Mapping[str, Any] | None = None,
    route_key: str = "$default",
    path_parameters: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The event the API Lambda receives. `claims` is what the JWT authorizer passed (None: no authorizer)."""
    raw_query = query if isinstance(query, str) else urlencode(query or {})
    params: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        # API Gateway joins repeated query parameters with a comma.
        params[key] = f"{params[key]},{value}" if key in params else value
    is_binary = isinstance(body, bytes)
    now = time.time()
    request_context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "local",
        "domainName": "localhost",
        "http": {
            "method": method.upper(),
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": "",
        },
        "requestId": uuid.uuid4().hex,
        "routeKey": route_key,
        "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "timeEpoch": int(now * 1000),
    }
    if claims is not None:
        request_context["authorizer"] = {"jwt": {"claims": dict(claims), "scopes": None}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": {k.lower(): v for k, v in (headers or {}).items()},
        "requestContext": request_context,
        "isBase64Encoded": is_binary,
    }
    if params:
        event["queryStringParameters"] = params
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if body is not None:
        event["body"] = base64.b64encode(body).decode() if is_binary else body
    return event
