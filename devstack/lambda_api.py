"""Lambda's Invoke API (the one call the handlers make), served for the stack's functions."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from devstack.runtime import AsyncInvoker, error_type

_CREDENTIAL = re.compile(r"Credential=(?P<key>[A-Z0-9]+)/")
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")


def _error(status: int, error_type: str, message: str) -> Response:
    # botocore's rest-json parser reads the error code from this header.
    return Response(
        json.dumps({"Type": "User", "message": message}),
        status=status,
        headers={"x-amzn-ErrorType": error_type, "x-amzn-RequestId": str(uuid.uuid4())},
        content_type="application/json",
    )


class LambdaInvokeApi:
    """POST /2015-03-31/functions/{name}/invocations: `Event` answers 202 at once and runs the function through
    its async invoker; `RequestResponse` runs it and returns its result; `DryRun` checks it exists."""

    def __init__(self, invoke_fault: Callable[[str], bool], allowed: Callable[[str, str, str], bool]):
        self.functions: dict[str, AsyncInvoker] = {}  # filled once the handlers are loaded
        self._invoke_fault = invoke_fault
        self._allowed = allowed  # (caller's access key, action, function ARN): what IAM would say

    def _find(self, name_or_arn: str) -> AsyncInvoker | None:
        name = name_or_arn.split(":function:")[-1].split(":")[0]  # name, ARN or partial ARN (no qualifiers here)
        return self.functions.get(name)

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        match = _INVOKE_PATH.match(request.path)
        if request.method != "POST" or match is None:
            return _error(404, "UnknownOperationException", "only Invoke is served")(environ, start_response)
        invoker = self._find(unquote(match["name"]))
        if invoker is None:
            message = f"Function not found: {match['name']}"
            return _error(404, "ResourceNotFoundException", message)(environ, start_response)
        caller = _CREDENTIAL.search(request.headers.get("Authorization", ""))
        if caller is None or not self._allowed(caller["key"], "lambda:InvokeFunction", invoker.function.arn):
            message = (f"{caller['key'] if caller else 'An anonymous caller'} is not authorized to perform: "
                       f"lambda:InvokeFunction on resource: {invoker.function.arn}")
            return _error(403, "AccessDeniedException", message)(environ, start_response)
        return self._invoke(request, invoker)(environ, start_response)

    def _invoke(self, request: Request, invoker: AsyncInvoker) -> Response:
        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if self._invoke_fault(invoker.function.name):
            # What Invoke answers while the function is being updated: not retried by the SDK.
            return _error(409, "ResourceConflictException", "The operation cannot be performed at this time "
                          "(failure injected by devstack faults).")
        try:
            payload = json.loads(request.get_data() or b"{}")
        except (ValueError, RecursionError):  # RecursionError: nested past json's recursion limit
            return _error(400, "InvalidRequestContentException", "Could not parse request body into json")
        if invocation_type == "DryRun":
            return Response(status=204)
        if invocation_type == "Event":
            request_id = invoker.submit(payload)
            return Response(status=202, headers={"x-amzn-RequestId": request_id})
        try:
            result = invoker.function.invoke(payload)
        except Exception as error:  # noqa: BLE001 - Lambda reports a function error in the payload, with 200
            body = {"errorMessage": str(error), "errorType": error_type(error)}
            return Response(json.dumps(body), status=200, headers={"X-Amz-Function-Error": "Unhandled"})
        return Response(json.dumps(result), status=200, content_type="application/json")
