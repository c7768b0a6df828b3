"""The test control endpoint of a served stack (`serve --control`): what an out-of-process test (the TypeScript
client's suites) needs of `stack.faults` and the bucket's CORS configuration, as JSON over HTTP on 127.0.0.1.

    POST /faults         {"failS3Puts": n, "expireS3Urls": n}   the next n presigned PUTs fail so (204)
                         {"dropS3Events": n}                     the next n S3 events are lost (204)
    GET  /faults         {"injected": {kind: n}, "pending": {kind: n}}
    POST /faults/reset                                           (204)
    GET  /bucket-cors    {"CORSRules": [...]}                    the bucket's CORS configuration, as S3 returns it
    PUT  /bucket-cors    {"CORSRules": [...]}                    replace it ([] removes it) (204)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from devstack.faults import Faults

# Request field -> (Faults method, fault kind).
_FAULTS = {
    "failS3Puts": ("fail_s3_puts", "s3_put"),
    "expireS3Urls": ("expire_s3_urls", "s3_url_expired"),
    "dropS3Events": ("drop_events", "drop_event"),
}


def _json(status: int, body: Any = None) -> Response:
    if body is None:
        return Response(status=status)
    return Response(json.dumps(body), status=status, content_type="application/json")


class ControlApi:
    """WSGI. `get_cors()` and `put_cors(rules)` read and replace the bucket's CORS rules."""

    def __init__(self, faults: Faults, get_cors: Callable[[], list], put_cors: Callable[[list], None]):
        self._faults, self._get_cors, self._put_cors = faults, get_cors, put_cors

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        return self._respond(Request(environ))(environ, start_response)

    def _respond(self, request: Request) -> Response:
        route = (request.method, request.path.rstrip("/"))
        try:
            body = request.get_json(force=True, silent=False) if request.method in ("POST", "PUT") and request.data else {}
        except Exception:  # noqa: BLE001 - werkzeug raises BadRequest subclasses for bad JSON
            return _json(400, {"error": "the body must be JSON"})
        if route == ("POST", "/faults"):
            unknown = set(body) - set(_FAULTS)
            if unknown or not all(isinstance(v, int) and v >= 0 for v in body.values()):
                return _json(400, {"error": f"fields: {sorted(_FAULTS)}, each a count >= 0"})
            for field, count in body.items():
                getattr(self._faults, _FAULTS[field][0])(count)
            return _json(204)
        if route == ("GET", "/faults"):
            kinds = [kind for _, kind in _FAULTS.values()]
            return _json(200, {"injected": {k: self._faults.injected(k) for k in kinds},
                               "pending": {k: self._faults.pending(k) for k in kinds}})
        if route == ("POST", "/faults/reset"):
            self._faults.reset()
            return _json(204)
        if route == ("GET", "/bucket-cors"):
            return _json(200, {"CORSRules": self._get_cors()})
        if route == ("PUT", "/bucket-cors"):
            rules = body.get("CORSRules") if isinstance(body, dict) else None
            if not isinstance(rules, list):
                return _json(400, {"error": "the body must be {\"CORSRules\": [...]}"})
            self._put_cors(rules)
            return _json(204)
        return _json(404, {"error": "no such route"})
