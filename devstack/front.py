"""The HTTP API and its JWT authorizer: a valid bearer token or 401; each request becomes the payload-v2 event
the API Lambda receives, and the Lambda's result becomes the HTTP response."""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from devstack.apigw import MAX_PAYLOAD_BYTES, http_api_event
from devstack.runtime import Function

log = logging.getLogger("devstack")

UNAUTHORIZED = {"error": "missing or invalid bearer token"}
TOO_LARGE = {"error": f"request body larger than API Gateway's {MAX_PAYLOAD_BYTES}-byte payload limit"}
_DIGITS = re.compile(r"[0-9]+", re.ASCII)


class _Request(Request):
    # werkzeug stops reading a body (chunked too) at this many bytes, without saying whether more followed: one
    # byte past the limit tells.
    max_content_length = MAX_PAYLOAD_BYTES + 1


def _json(status: int, body: dict, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


NOT_FOUND = {"message": "Not Found"}


class Route:
    """One of the program's routes (`POST /sessions/{sessionId}/audio`) and its authorization type."""

    def __init__(self, key: str, authorization: str):
        self.key, self.authorization = key, authorization
        self.method, path = key.split(" ", 1)
        segments = [f"(?P<{s[1:-1]}>[^/]+)" if s.startswith("{") and s.endswith("}") else re.escape(s)
                    for s in path.split("/")]
        self._path = re.compile("/".join(segments))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters (decoded) when `path`, as sent (still percent-encoded), is this route's."""
        found = self._path.fullmatch(path) if method == self.method else None
        return None if found is None else {name: unquote(value) for name, value in found.groupdict().items()}


class HttpApiFront:
    """A WSGI app: the program's `routes` (route key -> authorization type), each invoking `function`, the API
    Lambda; an unmatched request is API Gateway's 404, before any authorizer. `verify` maps an Authorization header
    to claims (None: rejected) for a route whose authorization is JWT."""

    def __init__(self, function: Function, verify: Callable[[str | None], dict[str, Any] | None],
                 routes: dict[str, str]):
        self._function = function
        self._verify = verify
        self._routes = [Route(key, authorization) for key, authorization in routes.items()]

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        return self._respond(_Request(environ), environ)(environ, start_response)

    def _respond(self, request: Request, environ: dict) -> Response:
        framing = _refuse_framing(environ)
        if framing is not None:
            return framing
        raw = urlsplit(environ.get("RAW_URI") or request.full_path)
        matched = next(((route, found) for route in self._routes
                        if (found := route.match(request.method, raw.path)) is not None), None)
        if matched is None:
            return _json(404, NOT_FOUND)
        route, path_parameters = matched
        claims = None
        if route.authorization == "JWT":
            claims = self._verify(request.headers.get("Authorization"))
            if claims is None:
                return _json(401, UNAUTHORIZED, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        try:
            data = request.get_data()
        except (HTTPException, OSError):  # the client went away mid-body, or sent chunks that do not parse
            return _json(400, {"error": "the request body could not be read"})
        if len(data) > MAX_PAYLOAD_BYTES:
            return _json(413, TOO_LARGE)
        body: str | bytes | None = None
        if data:
            try:
                body = data.decode("utf-8")
            except UnicodeDecodeError:
                body = data  # API Gateway base64-encodes a body that is not text
        event = http_api_event(
            request.method, raw.path, query=raw.query, body=body, headers=dict(request.headers), claims=claims,
            route_key=route.key, path_parameters=path_parameters,
        )
        try:
            result = self._function.invoke(event)
        except Exception:  # noqa: BLE001 - what API Gateway answers when the integration fails
            log.exception("API function failed")
            return _json(500, {"message": "Internal Server Error"})
        return _http_response(result)


def _refuse_framing(environ: dict) -> Response | None:
    """What API Gateway refuses before any route or authorizer: a Content-Length that is not decimal digits (werkzeug
    would read no body at all and the handler would see a missing one), or one over the payload limit."""
    declared = environ.get("CONTENT_LENGTH")
    if declared is None or declared == "":
        return None
    if not _DIGITS.fullmatch(declared):
        return _json(400, {"error": f"Content-Length must be decimal digits, not {declared!r}"})
    if environ.get("HTTP_TRANSFER_ENCODING"):
        return _json(400, {"error": "Content-Length and Transfer-Encoding together"})
    if len(declared) > len(str(MAX_PAYLOAD_BYTES)) or int(declared) > MAX_PAYLOAD_BYTES:
        return _json(413, TOO_LARGE)
    return None


def _http_response(result: Any) -> Response:
    """Payload format 2.0: a dict with statusCode is a response; anything else is a 200 JSON body."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return _json(200, result)
    content = result.get("body") or ""
    data = base64.b64decode(content) if result.get("isBase64Encoded") else content.encode("utf-8")
    response = Response(data, status=int(result["statusCode"]))
    response.headers.pop("Content-Type", None)  # only what the function set
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            response.headers.add(name, str(value))
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", cookie)
    return response
