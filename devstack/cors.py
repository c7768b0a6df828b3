"""CORS as a browser meets it: S3's algorithm over the bucket's CORS configuration (in front of the presign gate),
and the HTTP API's CORS settings (in front of the JWT authorizer). Both are WSGI middleware around the apps that
need them; the facts they enforce come from `handlers/cors.py`, the program's own definition."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.wrappers import Request, Response

from handlers import cors

# Rules in S3's API shape (GetBucketCors `CORSRules`); None when the bucket has no CORS configuration.
RulesOf = Callable[[str], "list[dict[str, Any]] | None"]

_NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / "
    "Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."
)


def _is_cors_header(name: str) -> bool:
    return name.lower().startswith("access-control-")


def _wildcard(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    """S3 allows one `*` in an AllowedOrigin or AllowedHeader, matching any run of characters."""
    if not case_sensitive:
        pattern, value = pattern.lower(), value.lower()
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), value, re.DOTALL) is not None


def _requested_headers(value: str | None) -> list[str]:
    return [name.strip().lower() for name in (value or "").split(",") if name.strip()]


def _s3_error(status: int, code: str, message: str, **extra: str) -> Response:
    fields = {"Code": code, "Message": message, **extra, "RequestId": "devstack", "HostId": "devstack"}
    inner = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in fields.items())
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{inner}</Error>'
    return Response(body, status=status, content_type="application/xml")


class S3Cors:
    """What S3 does with CORS, in front of `app` (the presign gate). `rules_of(bucket)` reads the bucket's CORS
    configuration (path-style requests: the bucket is the path's first segment).

    A preflight (OPTIONS) is answered here, never forwarded: the first rule whose AllowedOrigin matches Origin, whose
    AllowedMethod holds Access-Control-Request-Method and whose AllowedHeader entries match every name in
    Access-Control-Request-Headers; 403 AccessForbidden when none does. Any other request carrying Origin is
    served by `app` (S3 does not refuse it for CORS: the browser does, by the headers it lacks), and the first rule
    matching its origin and method puts its Access-Control-* headers on the response, errors included."""

    def __init__(self, app: Callable, rules_of: RulesOf):
        self._app = app
        self._rules_of = rules_of

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        if request.method == "OPTIONS":
            return self._preflight(request)(environ, start_response)
        origin = request.headers.get("Origin")
        if origin is None:
            return self._app(environ, start_response)
        rule = self._match(request, origin, request.method, [])
        return _with_headers(self._app, environ, start_response, _actual_headers(rule, origin) if rule else [])

    def _preflight(self, request: Request) -> Response:
        origin = request.headers.get("Origin")
        method = request.headers.get("Access-Control-Request-Method")
        if not origin:
            return _s3_error(400, "BadRequest", "Insufficient information. Origin request header needed.")
        if not method:
            return _s3_error(400, "BadRequest", "Invalid Access-Control-Request-Method: null")
        headers = _requested_headers(request.headers.get("Access-Control-Request-Headers"))
        bucket = _bucket(request.path)
        rules = self._rules_of(bucket) if bucket else None
        if not rules:
            return _s3_error(403, "AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.",
                             Method=method, ResourceType="OBJECT" if "/" in request.path.strip("/") else "BUCKET")
        rule = _first_match(rules, origin, method, headers)
        if rule is None:
            return _s3_error(403, "AccessForbidden", _NOT_ALLOWED, Method=method,
                             ResourceType="OBJECT" if "/" in request.path.strip("/") else "BUCKET")
        response = Response(status=200)
        for name, value in _actual_headers(rule, origin):
            response.headers[name] = value
        if headers:
            response.headers["Access-Control-Allow-Headers"] = ", ".join(headers)
        response.headers["Vary"] = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
        return response

    def _match(self, request: Request, origin: str, method: str, headers: list[str]) -> dict[str, Any] | None:
        bucket = _bucket(request.path)
        rules = self._rules_of(bucket) if bucket else None
        return _first_match(rules or [], origin, method, headers)


def _bucket(path: str) -> str | None:
    first = path.lstrip("/").split("/", 1)[0]
    return first or None


def _first_match(rules: list[dict[str, Any]], origin: str, method: str, headers: list[str]) -> dict[str, Any] | None:
    for rule in rules:
        if not any(_wildcard(allowed, origin, case_sensitive=True) for allowed in rule.get("AllowedOrigins", [])):
            continue
        if method not in rule.get("AllowedMethods", []):
            continue
        allowed_headers = rule.get("AllowedHeaders", [])
        if all(any(_wildcard(a, h, case_sensitive=False) for a in allowed_headers) for h in headers):
            return rule
    return None


def _actual_headers(rule: dict[str, Any], origin: str) -> list[tuple[str, str]]:
    any_origin = "*" in rule.get("AllowedOrigins", [])
    headers = [
        ("Access-Control-Allow-Origin", "*" if any_origin else origin),
        ("Access-Control-Allow-Methods", ", ".join(rule.get("AllowedMethods", []))),
    ]
    if not any_origin:
        headers += [("Access-Control-Allow-Credentials", "true"), ("Vary", "Origin")]
    if rule.get("ExposeHeaders"):
        headers.append(("Access-Control-Expose-Headers", ", ".join(rule["ExposeHeaders"])))
    if rule.get("MaxAgeSeconds") is not None:
        headers.append(("Access-Control-Max-Age", str(rule["MaxAgeSeconds"])))
    return headers


def _with_headers(app: Callable, environ: dict, start_response: Callable, extra: list[tuple[str, str]]) -> Any:
    """`app`'s response with its own CORS headers replaced by `extra` (moto adds some of its own)."""

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        names = {name.lower() for name, _ in extra}
        kept = [(n, v) for n, v in headers if not _is_cors_header(n) and n.lower() not in names]
        return start_response(status, kept + extra, exc_info)

    return app(environ, start)


class HttpApiCors:
    """An HTTP API's CORS configuration (allowOrigins, allowMethods, allowHeaders, maxAge), in front of `app` (the
    front with its authorizer). As API Gateway does: a preflight (OPTIONS with Origin and
    Access-Control-Request-Method) is answered 204 here, before any route or authorizer, with the configured
    headers when the origin is allowed and none otherwise; every other response from an allowed origin gets
    Access-Control-Allow-Origin, and CORS headers set by the integration are dropped. No origins: no CORS at all."""

    def __init__(
        self,
        app: Callable,
        origins: Sequence[str],
        methods: Sequence[str] = cors.API_ALLOWED_METHODS,
        headers: Sequence[str] = cors.API_ALLOWED_HEADERS,
        max_age: int = cors.API_MAX_AGE_SECONDS,
    ):
        self._app = app
        self._origins = list(origins)
        self._methods, self._headers, self._max_age = list(methods), list(headers), max_age

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if not self._origins:
            return self._app(environ, start_response)
        request = Request(environ)
        origin = request.headers.get("Origin")
        allowed = self._allow_origin(origin) if origin else None
        if request.method == "OPTIONS" and origin and request.headers.get("Access-Control-Request-Method"):
            response = Response(status=204)
            if allowed:
                response.headers["Access-Control-Allow-Origin"] = allowed
                response.headers["Access-Control-Allow-Methods"] = ",".join(self._methods)
                response.headers["Access-Control-Allow-Headers"] = ",".join(self._headers)
                response.headers["Access-Control-Max-Age"] = str(self._max_age)
            return response(environ, start_response)
        extra = [("Access-Control-Allow-Origin", allowed), ("Vary", "Origin")] if allowed else []
        return _with_headers(self._app, environ, start_response, extra)

    def _allow_origin(self, origin: str) -> str | None:
        """The Access-Control-Allow-Origin value for `origin`: `*` for a configured `*`, the origin itself when
        listed or matched by a scheme wildcard (`https://*`), None when not allowed."""
        if "*" in self._origins:
            return "*"
        if any(fnmatch.fnmatchcase(origin, allowed) if "*" in allowed else origin == allowed for allowed in self._origins):
            return origin
        return None
