"""moto server in a process of its own, on a free port of 127.0.0.1, forked from a warm moto (devstack/servers.py).

Its own process because moto's IAM enforcement is process-wide state (a request counter and a setting): switched on
for the local stack, it would refuse the calls of every in-process `mock_aws` test sharing the interpreter. A process
of its own also gives moto a core of its own. It sends its port to its parent, then serves until the parent closes
its end of the pipe (or dies), with DynamoDB requests serialized and moto's transactions at constant cost
(devstack/motofix.py, installed by importing devstack).

Importing this module is the expensive part of a moto process, done once per parent process: it is the forkserver's
preload (devstack/servers.py), and every moto server forks from it with moto's services imported, their models read
and their request routing built. No resource is created before the fork (only moto's empty backends of its
default account), so each server starts as empty as a new moto (tests/e2e/test_moto_server.py).
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from moto.core.utils import get_service_model
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from devstack import motofix  # importing devstack installs it

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


# The services the program's resources and the handlers use. moto would import each on its first request, read its
# botocore model, and build its routing; here, before the fork.
PRELOADED = ("s3", "dynamodb", "sqs", "events", "iam", "sts", "logs", "sns", "cloudwatch", "cognito-idp")


def _warm_dispatcher() -> DomainDispatcherApplication:
    dispatcher = DomainDispatcherApplication(create_backend_app)
    for service in PRELOADED:
        get_service_model(service)
        dispatcher.app_instances[service] = create_backend_app(service)
    dispatcher.app_instances["moto_api"] = create_backend_app("moto_api")
    motofix.preload()
    return dispatcher


_DISPATCHER = _warm_dispatcher()
# Every moto server forks from here: frozen, what it inherits (moto's modules, models and routing) is never walked by
# its collector's full collections (0.14 s to 0.01 s over a 25 s run of e2e tests), nor written to by them, so the
# forked processes keep sharing those pages.
gc.freeze()


def serve(parent: Connection) -> None:
    """The forked moto process's body: serve until `parent` closes."""
    server = make_server(HOST, 0, SerializedDynamoDB(_DISPATCHER), threaded=True, request_handler=_QuietMotoHandler)
    threading.Thread(target=server.serve_forever, args=(0.05,), name="moto", daemon=True).start()
    parent.send(server.server_port)
    with contextlib.suppress(EOFError):
        parent.recv()  # until the parent closes its end, or dies
    server.shutdown()
    # Nothing to write or close: moto's state lives and dies with the process. Skipping the interpreter's teardown of
    # moto's modules and backends takes a stack's stop from about 0.45 s to under 0.1 s (python -m bench.stack), and
    # every e2e test module stops one.
    os._exit(0)
