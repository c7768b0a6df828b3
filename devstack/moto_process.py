"""`python -m devstack.moto_process`: moto server in a process of its own, on a free port of 127.0.0.1.

Its own process because moto's IAM enforcement is process-wide state (a request counter and a setting): switched on
for the local stack, it would refuse the calls of every in-process `mock_aws` test sharing the interpreter. A process
of its own also gives moto a core of its own. It prints its port on the first line of stdout, then serves until
stdin closes (its parent died or stopped it), with DynamoDB requests serialized and moto's transactions at constant
cost (devstack/motofix.py, installed by importing devstack).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

import devstack  # noqa: F401 - installs devstack.motofix

HOST = "127.0.0.1"


class _QuietMotoHandler(MotoRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # one line per request drowns the handlers' logs
        pass


class SerializedDynamoDB:
    """moto's DynamoDB conditional writes are not atomic under concurrent requests (2 to 7 winners of one claim
    with 16 threads); real DynamoDB's are, and exactly-once ingest rests on them. One request at a time restores
    that; every other service stays concurrent (an SQS long poll must not block the table)."""

    def __init__(self, app: Callable):
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self._app(environ, start_response)
        with self._lock:
            # Consume the whole response inside the lock: the write happens while moto builds it.
            return list(self._app(environ, start_response))


# The services the program's resources and the handlers use: moto imports each backend on its first request; here,
# while the parent runs the program (the first requests come a second later), so that no request waits for one.
PRELOADED = ("s3", "dynamodb", "sqs", "events", "iam", "sts", "logs", "sns", "cloudwatch", "cognito-idp")


def _preload() -> None:
    from moto.backends import get_backend  # noqa: PLC0415

    for service in PRELOADED:
        get_backend(service)


def main() -> None:
    app = SerializedDynamoDB(DomainDispatcherApplication(create_backend_app))
    server = make_server(HOST, 0, app, threaded=True, request_handler=_QuietMotoHandler)
    threading.Thread(target=server.serve_forever, args=(0.05,), name="moto", daemon=True).start()
    threading.Thread(target=_preload, name="moto-preload", daemon=True).start()
    print(server.server_port, flush=True)
    sys.stdin.read()  # until the parent closes our stdin, or dies
    server.shutdown()
    # Nothing to write or close: moto's state lives and dies with the process. Skipping the interpreter's teardown of
    # moto's modules and backends takes a stack's stop from about 0.45 s to under 0.1 s (python -m bench.stack), and
    # every e2e test module stops one.
    os._exit(0)


if __name__ == "__main__":
    main()
