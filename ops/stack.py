"""The stack's AWS clients, built once and only when a command needs them, and what every command reads with them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from handlers.dal.listing import S3Listing
from handlers.dal.sessions_table import SessionsTable
from handlers.domain.ports import StoredObject
from ops.target import INVOKE_READ_TIMEOUT, Target

# The tool only reads through SessionsTable (get, windows): its claims are the functions' business.
_UNUSED_LEASE_SECONDS = 1


@dataclass(frozen=True)
class Invocation:
    """A synchronous invoke's outcome: the function's result, or the error it raised (`error` set)."""

    result: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Stack:
    def __init__(self, target: Target):
        self.target = target

    @cached_property
    def _session(self) -> Any:
        return self.target.session()

    def client(self, service: str, **config: Any) -> Any:
        from botocore.config import Config

        options = {"retries": {"mode": "standard", "max_attempts": 3}, "connect_timeout": 5, **config}
        return self._session.client(service, endpoint_url=self.target.endpoint(service), config=Config(**options))

    @cached_property
    def table(self) -> Any:
        resource = self._session.resource(
            "dynamodb", endpoint_url=self.target.endpoint("dynamodb"), region_name=self.target.region
        )
        return resource.Table(self.target.table)

    @cached_property
    def sessions(self) -> SessionsTable:
        return SessionsTable(self.table, time.time, _UNUSED_LEASE_SECONDS)

    @cached_property
    def s3(self) -> Any:
        return self.client("s3")

    @cached_property
    def sqs(self) -> Any:
        return self.client("sqs")

    def objects(self, prefix: str) -> Iterator[StoredObject]:
        return S3Listing(self.s3, self.target.bucket)(prefix)

    def invoke(self, which: str, payload: Any) -> Invocation:
        """Invoke the stack's completion or sweeper function synchronously (RequestResponse) with `payload`."""
        client = self._lambda(which)
        response = client.invoke(
            FunctionName=self.target.functions[which], InvocationType="RequestResponse",
            Payload=json.dumps(payload).encode(),
        )
        body = response["Payload"].read()
        try:
            result = json.loads(body) if body else None
        except ValueError:
            result = body.decode(errors="replace")
        if "FunctionError" in response:
            if isinstance(result, dict):
                return Invocation(error=f"{result.get('errorType', 'Error')}: {result.get('errorMessage', '')}")
            return Invocation(error=str(result))
        return Invocation(result=result)

    def _lambda(self, which: str) -> Any:
        cache = self.__dict__.setdefault("_lambdas", {})
        if which not in cache:
            # Retried on throttling and on a timeout: a replay through the completion path is idempotent.
            cache[which] = self.client("lambda", read_timeout=INVOKE_READ_TIMEOUT[which])
        return cache[which]
