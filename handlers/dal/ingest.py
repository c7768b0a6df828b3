"""The ingest target as a Lambda function invoked asynchronously."""

from __future__ import annotations

import json
from typing import Any


class LambdaIngestTarget:
    """Invokes the ingest function asynchronously (InvocationType=Event): accepted means queued by Lambda."""

    def __init__(self, lambda_client: Any, function_name: str):
        self._client = lambda_client
        self._function_name = function_name

    def __call__(self, request: dict[str, Any]) -> None:
        response = self._client.invoke(
            FunctionName=self._function_name, InvocationType="Event", Payload=json.dumps(request).encode()
        )
        if response.get("StatusCode") != 202:
            raise RuntimeError(f"ingest invoke not accepted: status {response.get('StatusCode')}")
